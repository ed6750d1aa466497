/*
 * main.c - oxprofctl: global options, the command table, dispatch.
 *
 *   oxprofctl [--socket PATH] [--json] COMMAND [OPTIONS] [ARGS]
 *
 * Exit codes: 0 success, 1 failure, 2 usage error; `record` exits with its
 * program's status, or 3 when no profile could be made (cmd.h).  Standard
 * output is checked once, at the end, for every command (sink.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "sink.h"
#include "ox/xalloc.h"

const struct oxc_cmd *const oxc_commands[] = {
	&oxc_cmd_status, &oxc_cmd_start, &oxc_cmd_stop, &oxc_cmd_pause, &oxc_cmd_unpause,
	&oxc_cmd_reset, &oxc_cmd_query, &oxc_cmd_record, &oxc_cmd_help, &oxc_cmd_version,
	NULL,
};

const struct oxc_cmd *oxc_cmd_find(const char *name)
{
	for (int i = 0; oxc_commands[i]; i++)
		if (!strcmp(oxc_commands[i]->name, name))
			return oxc_commands[i];
	return NULL;
}

/*
 * Optimal string alignment distance: edits, with a swap of two neighbours
 * counting as one (the commonest typo: "stauts").  Names are short; longer
 * input is simply far from everything.
 */
static int distance(const char *a, const char *b)
{
	enum { MAXN = 32 };
	size_t n = strlen(a), m = strlen(b);
	if (n >= MAXN || m >= MAXN)
		return MAXN;
	int d[MAXN + 1][MAXN + 1];
	for (size_t i = 0; i <= n; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			int cost = a[i - 1] != b[j - 1];
			int v = d[i - 1][j - 1] + cost;
			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[n][m];
}

const struct oxc_cmd *oxc_cmd_suggest(const char *name)
{
	const struct oxc_cmd *best = NULL;
	int bestd = 3; /* more than two edits is another word, not a typo */
	for (int i = 0; oxc_commands[i]; i++) {
		const char *c = oxc_commands[i]->name;
		int d = distance(name, c);
		/* One edit in a short name already changes half of it. */
		if (d < bestd && d <= (strlen(c) <= 4 ? 1 : 2)) {
			best = oxc_commands[i];
			bestd = d;
		}
	}
	return best;
}

void oxc_cmd_unknown(const char *name, char *buf, size_t len)
{
	const struct oxc_cmd *s = oxc_cmd_suggest(name);
	if (s)
		snprintf(buf, len, "unknown command '%s'; did you mean '%s'?", name, s->name);
	else
		snprintf(buf, len, "unknown command '%s'", name);
}

static const char global_help[] =
	"Global options (before or after the command):\n"
	"  --socket PATH  the daemon's socket (default: $OXPROF_SOCKET, else\n"
	"                 /run/oxprof/oxprof.sock, $XDG_RUNTIME_DIR/oxprof/oxprof.sock\n"
	"                 or /tmp/oxprof-$UID/oxprof.sock)\n"
	"  --json         write one JSON document on stdout (see client/JSON.md)\n"
	"  -h, --help     show help\n"
	"  -V, --version  show oxprofctl's version and exit\n";

void oxc_cmd_usage(const struct oxc_cmd *cmd, FILE *f)
{
	if (cmd) {
		fprintf(f, "usage: oxprofctl %s\n%s", cmd->usage, global_help);
		return;
	}
	fprintf(f, "usage: oxprofctl [--socket PATH] [--json] COMMAND [OPTIONS]\n\n"
		   "Control and query oxprofd, the oxprof sampling profiler daemon.\n\n"
		   "Commands:\n");
	for (int i = 0; oxc_commands[i]; i++)
		fprintf(f, "  %-9s %s\n", oxc_commands[i]->name, oxc_commands[i]->summary);
	fprintf(f, "\n%s\n"
		   "`oxprofctl help COMMAND` shows a command's options.\n"
		   "Exit status: 0 ok, 1 failure (a write error included), 2 usage error;\n"
		   "record: the program's, or 3 when no profile could be made.\n",
		global_help);
}

/* A usage error: what was wrong, then how to use the command. */
static int usage_error(const struct oxc_cmd *cmd, const char *msg)
{
	fprintf(stderr, "oxprofctl%s%s: %s\n", cmd ? " " : "", cmd ? cmd->name : "", msg);
	if (cmd)
		fprintf(stderr, "usage: oxprofctl %.*s\n", (int)strcspn(cmd->usage, "\n"), cmd->usage);
	fprintf(stderr, "Try `oxprofctl help%s%s`.\n", cmd ? " " : "", cmd ? cmd->name : "");
	return 2;
}

static int run(const struct oxc_cmd *cmd, int argc, char **argv, struct oxc_opts *o)
{
	char err[256];
	if (oxc_args_parse(argc, argv, cmd->opts, o, err, sizeof(err)) < 0)
		return usage_error(cmd, err);
	if (o->version)
		return oxc_version_print();
	if (o->help) {
		oxc_cmd_usage(cmd, stdout);
		return 0;
	}
	if (o->argc < cmd->min_args)
		return usage_error(cmd, "missing argument");
	if (cmd->max_args >= 0 && o->argc > cmd->max_args) {
		snprintf(err, sizeof(err), "unexpected argument '%s'", o->argv[cmd->max_args]);
		return usage_error(cmd, err);
	}
	return cmd->exec(cmd, o);
}

/* A short-lived client has no recovery from out of memory (ox/xalloc.h). */
static void on_oom(size_t n)
{
	fputs("oxprofctl: out of memory\n", stderr);
	exit(1);
}

static int dispatch(int argc, char **argv)
{
	static struct oxc_opts o; /* static: it holds OXP_MAX_PIDS pids */
	char err[256];
	oxc_opts_init(&o);
	int i = oxc_args_global(argc, argv, &o, err, sizeof(err));
	if (i < 0)
		return usage_error(NULL, err);
	if (o.version)
		return oxc_version_print();
	if (i >= argc && o.help) /* `oxprofctl --help` is `oxprofctl help` */
		return oxc_cmd_help.exec(&oxc_cmd_help, &o);
	if (i >= argc) {
		oxc_cmd_usage(NULL, stderr);
		return 2;
	}
	const struct oxc_cmd *cmd = oxc_cmd_find(argv[i]);
	if (!cmd) {
		oxc_cmd_unknown(argv[i], err, sizeof(err));
		return usage_error(NULL, err);
	}
	return run(cmd, argc - i, argv + i, &o);
}

int main(int argc, char **argv)
{
	ox_xalloc_on_oom(on_oom);
	oxc_sink_stdout();
	return oxc_sink_finish_stdout(dispatch(argc, argv));
}
