/*
 * main.c - oxprofctl: global options, the command table, dispatch.
 *
 *   oxprofctl [--socket PATH] [--json] COMMAND [OPTIONS] [ARGS]
 *
 * Exit codes: 0 success, 1 failure, 2 usage error; `record` exits with its
 * program's status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
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

static const char global_help[] =
	"Global options (before or after the command):\n"
	"  --socket PATH  the daemon's socket (default: $OXPROF_SOCKET, else\n"
	"                 /run/oxprof/oxprof.sock, $XDG_RUNTIME_DIR/oxprof/oxprof.sock\n"
	"                 or /tmp/oxprof-$UID/oxprof.sock)\n"
	"  --json         write one JSON document on stdout (see client/JSON.md)\n"
	"  -h, --help     show help\n";

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
		   "Exit status: 0 ok, 1 failure, 2 usage error; record: the program's.\n",
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

int main(int argc, char **argv)
{
	ox_xalloc_on_oom(on_oom);
	static struct oxc_opts o; /* static: it holds OXP_MAX_PIDS pids */
	char err[256];
	oxc_opts_init(&o);
	int i = oxc_args_global(argc, argv, &o, err, sizeof(err));
	if (i < 0)
		return usage_error(NULL, err);
	if (i >= argc) {
		oxc_cmd_usage(NULL, o.help ? stdout : stderr);
		return o.help ? 0 : 2;
	}
	const struct oxc_cmd *cmd = oxc_cmd_find(argv[i]);
	if (!cmd) {
		snprintf(err, sizeof(err), "unknown command '%s'", argv[i]);
		return usage_error(NULL, err);
	}
	return run(cmd, argc - i, argv + i, &o);
}
