/*
 * cmd-record.c - `oxprofctl record -- CMD ARGS...`: profile one program from
 * its first instruction to its exit, with the running daemon or a private
 * one, then print the top functions and write a profile file if asked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ox/clock.h"
#include "cmd.h"
#include "ctl.h"
#include "fail.h"
#include "json.h"
#include "record.h"
#include "report.h"
#include "term.h"

#define RECORD_HZ 1000         /* default rate: enough samples in a short run */
#define TABLE_LIMIT 20
#define DAEMON_START_MS 5000   /* a private daemon must answer by then */
#define AGENT_EXIT_MS 3000     /* bound on waiting for the agent's last batch */
#define AGENT_ABSENT_MS 1000   /* give up sooner when it never connected */

struct rec {
	const struct oxc_opts *o;
	char sock[PATH_MAX];
	int private_daemon;
	struct oxc_daemon d;
	char agent_lib[PATH_MAX];
	pid_t pid;
	int status;
	int file_format;
	/* What status says about the agents of CMD's tree (CMD and its
	 * descendants: the daemon knows each process's parent). */
	int seen, pending;      /* rows found; rows not yet exited */
	int sampled;            /* rows with samples */
	uint64_t samples, dropped; /* over the tree's rows */
	struct oxp_agent_row row; /* CMD's own row, else the first (strings not kept) */
	char source[128];
};

/* The running daemon when one answers, else a private one. 0 or exit code. */
static int choose_daemon(struct rec *x)
{
	const struct oxc_opts *o = x->o;
	char err[1024], exe[PATH_MAX];
	struct oxc_ctl c;
	if (oxc_ctl_path(x->sock, sizeof(x->sock), o->socket) < 0)
		return oxc_fail(o->json, -ENAMETOOLONG, "socket path too long");
	int r = oxc_ctl_open(&c, x->sock, 2000);
	if (r == 0) {
		oxc_ctl_close(&c);
		return 0;
	}
	/* A socket named on purpose must be used or fail; the default one may
	 * belong to a daemon that does not let us in, and then a private
	 * daemon serves the run just as well. */
	if (r != -OXP_ENODAEMON && o->socket)
		return oxc_ctl_fail(&c, o->json, r);
	if (r != -OXP_ENODAEMON)
		fprintf(stderr, "oxprofctl: note: %s; using a private daemon\n", c.err);
	if (oxc_record_find_daemon(exe, sizeof(exe), err, sizeof(err)) < 0)
		return oxc_fail(o->json, -ENOENT, "%s", err);
	r = oxc_record_daemon_start(&x->d, exe, DAEMON_START_MS, err, sizeof(err));
	if (r == -EINTR)
		return 128 + oxc_record_signal_seen();
	if (r < 0)
		return oxc_fail(o->json, r, "cannot start a private oxprofd: %s", err);
	snprintf(x->sock, sizeof(x->sock), "%s", x->d.sock);
	x->private_daemon = 1;
	return 0;
}

/* oxc_ctl_fn for STATUS (asked with --tree CMD): the rows of CMD's tree. */
static int on_status(void *arg, const struct oxp_msg *m)
{
	struct rec *x = arg;
	if (m->type != OXP_MSG_STATUS)
		return 0;
	x->seen = x->pending = x->sampled = 0;
	x->samples = x->dropped = 0;
	for (uint32_t i = 0; i < m->u.status.nagents; i++) {
		const struct oxp_agent_row *a = &m->u.status.agents[i];
		x->seen++;
		x->pending += a->state != OXP_AGENT_EXITED;
		x->sampled += a->samples > 0;
		x->samples += a->samples;
		x->dropped += a->dropped_agent + a->dropped_daemon;
		if (a->pid == x->pid || x->seen == 1) {
			x->row = *a;
			snprintf(x->source, sizeof(x->source), "%.*s", (int)a->source.len,
				 a->source.ptr ? a->source.ptr : "");
		}
	}
	return 0;
}

/* CMD and its descendants, whichever daemon: a shared one holds other
 * processes too, and a private one may too (a daemonized leftover). */
static void select_tree(const struct rec *x, struct oxp_command *cmd)
{
	cmd->sel.npids = 0;
	cmd->sel.exe = oxp_str_c("");
	cmd->sel.thread = oxp_str_c("");
	cmd->sel.tree = x->pid;
}

/*
 * Wait until the daemon shows our agents as exited: it marks an agent
 * exited only after processing everything it sent, so the query that
 * follows sees the whole run.  Bounded; a signal cuts it short.
 */
static int wait_agents(struct rec *x, struct oxc_ctl *c)
{
	struct oxp_command cmd;
	oxc_ctl_command_init(&cmd, OXP_CMD_STATUS, x->o);
	select_tree(x, &cmd);
	uint64_t start = ox_mono_ms();
	for (;;) {
		int r = oxc_ctl_command(c, &cmd, on_status, x);
		if (r < 0)
			return r;
		uint64_t waited = ox_mono_ms() - start;
		if ((x->seen && !x->pending) || oxc_record_signal_seen() ||
		    waited >= (x->seen ? AGENT_EXIT_MS : AGENT_ABSENT_MS))
			return 0;
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static int run_query(struct rec *x, struct oxc_ctl *c, int by, long limit, struct oxc_report *rep)
{
	struct oxp_command cmd;
	oxc_ctl_command_init(&cmd, OXP_CMD_QUERY, x->o);
	select_tree(x, &cmd);
	cmd.by = (uint8_t)by;
	cmd.sort = OXP_SORT_SELF;
	cmd.limit = (uint32_t)limit;
	oxc_report_init(rep, by, OXP_SORT_SELF);
	return oxc_report_fetch(c, &cmd, rep);
}

/* -o FILE: the whole profile, folded stacks or JSON. */
static int write_file(struct rec *x, struct oxc_ctl *c)
{
	struct oxc_report rep;
	int folded = x->file_format == OXC_FMT_FOLDED;
	int r = run_query(x, c, folded ? OXP_BY_STACK : OXP_BY_FUNCTION, 0, &rep);
	if (r < 0) {
		oxc_report_destroy(&rep);
		return r;
	}
	FILE *f = fopen(x->o->output, "w");
	if (!f) {
		r = -errno;
		snprintf(c->err, sizeof(c->err), "cannot write %s: %s", x->o->output, strerror(-r));
	} else {
		if (folded)
			oxc_report_folded(&rep, f);
		else
			oxc_report_json(&rep, f);
		if (fclose(f) != 0) {
			r = -errno;
			snprintf(c->err, sizeof(c->err), "cannot write %s: %s", x->o->output,
				 strerror(-r));
		} else {
			fprintf(stderr, "oxprofctl: wrote %u %s to %s\n", (unsigned)rep.nrows,
				folded ? "stacks" : "functions", x->o->output);
		}
	}
	oxc_report_destroy(&rep);
	return r;
}

static void status_line(const struct rec *x)
{
	const char *prog = x->o->argv[0];
	if (x->status > 128)
		fprintf(stderr, "oxprofctl: %s (pid %d) was killed by signal %d\n", prog,
			(int)x->pid, x->status - 128);
	else
		fprintf(stderr, "oxprofctl: %s (pid %d) exited with status %d\n", prog,
			(int)x->pid, x->status);
	if (!x->seen)
		return;
	if (x->row.state == OXP_AGENT_DISABLED && x->seen == 1) {
		fprintf(stderr, "oxprofctl: the agent in pid %d was disabled: %s\n",
			(int)x->row.pid, x->source);
		return;
	}
	/* The same set as the table below: every process of CMD's tree. */
	fprintf(stderr, "oxprofctl: agents: %llu samples from %d process%s (%d agent%s in the "
		"tree of pid %d; %s, %u Hz asked), %llu dropped%s\n",
		(unsigned long long)x->samples, x->sampled, x->sampled == 1 ? "" : "es",
		x->seen, x->seen == 1 ? "" : "s", (int)x->pid, x->source,
		(unsigned)x->row.hz_requested, (unsigned long long)x->dropped,
		x->pending ? " (some had not finished reporting; the profile may be short)" : "");
}

static void print_json(const struct rec *x, const struct oxc_report *rep)
{
	struct oxc_json j;
	oxc_json_init(&j, stdout);
	oxc_json_obj(&j, NULL);
	oxc_json_arr(&j, "command");
	for (int i = 0; i < x->o->argc; i++)
		oxc_json_cstr(&j, NULL, x->o->argv[i]);
	oxc_json_end(&j, ']');
	oxc_json_i64(&j, "pid", x->pid);
	oxc_json_i64(&j, "exit_status", x->status);
	oxc_json_cstr(&j, "daemon", x->private_daemon ? "private" : "shared");
	oxc_json_cstr(&j, "socket", x->sock);
	oxc_json_cstr(&j, "output", x->o->output);
	oxc_json_obj(&j, "agent");
	oxc_json_bool(&j, "connected", x->seen > 0);
	oxc_json_bool(&j, "complete", x->seen > 0 && !x->pending);
	oxc_json_u64(&j, "agents", (uint64_t)x->seen);
	oxc_json_u64(&j, "processes", (uint64_t)x->sampled);
	oxc_json_u64(&j, "samples", x->samples);
	oxc_json_cstr(&j, "source", x->seen ? x->source : NULL);
	oxc_json_u64(&j, "hz_requested", x->seen ? x->row.hz_requested : 0);
	oxc_json_f64(&j, "hz_achieved", x->seen ? x->row.hz_achieved : 0.0, 1);
	oxc_json_u64(&j, "dropped", x->dropped);
	oxc_json_end(&j, '}');
	oxc_report_json_write(&j, "profile", rep);
	oxc_json_end(&j, '}');
	oxc_json_finish(&j);
}

/* After the program ended: wait for its agent, then report.  0 or 1. */
static int report(struct rec *x)
{
	const struct oxc_opts *o = x->o;
	struct oxc_ctl c;
	struct oxc_report rep;
	int r = oxc_ctl_open(&c, x->sock, OXC_HANDSHAKE_MS);
	if (r < 0)
		return oxc_ctl_fail(&c, o->json, r);
	if ((r = wait_agents(x, &c)) < 0)
		goto fail;
	status_line(x);
	if (!x->seen) {
		oxc_ctl_close(&c);
		return oxc_fail(o->json, -ENOENT, "no profile: the agent never reported from pid %d "
				"(is %s statically linked or set-uid, does it clear LD_PRELOAD, or "
				"does it not trust the daemon at %s?)", (int)x->pid, o->argv[0], x->sock);
	}
	r = run_query(x, &c, OXP_BY_FUNCTION, o->limit >= 0 ? o->limit : TABLE_LIMIT, &rep);
	if (r < 0) {
		oxc_report_destroy(&rep);
		goto fail;
	}
	oxc_report_table(&rep, stderr, oxc_out_width(stderr, 0), oxc_out_color(stderr));
	if (o->json)
		print_json(x, &rep);
	oxc_report_destroy(&rep);
	if (o->output && (r = write_file(x, &c)) < 0)
		goto fail;
	oxc_ctl_close(&c);
	return 0;
fail:
	oxc_ctl_close(&c);
	return oxc_ctl_fail(&c, o->json, r);
}

/* Options that make sense only together, and the file format. 0 or 2. */
static int check_opts(struct rec *x)
{
	const struct oxc_opts *o = x->o;
	x->file_format = o->format;
	if (o->format == OXC_FMT_TABLE) {
		fprintf(stderr, "oxprofctl record: --format: use folded or json for the file\n");
		return 2;
	}
	if (o->format == OXC_FMT_UNSET) {
		/* Follow the file's name, else the flame graph tools' format. */
		size_t n = o->output ? strlen(o->output) : 0;
		x->file_format = n > 5 && !strcmp(o->output + n - 5, ".json") ? OXC_FMT_JSON :
										OXC_FMT_FOLDED;
	}
	return 0;
}

static int run(struct rec *x)
{
	char err[1024];
	struct oxc_spawn s = { x->o->argv, x->agent_lib, x->sock,
			       x->o->hz ? x->o->hz : RECORD_HZ, x->o->mode, x->o->depth,
			       x->o->json };
	if (oxc_record_signal_seen())
		return 128 + oxc_record_signal_seen();
	int r = oxc_record_spawn(&s, &x->pid, err, sizeof(err));
	if (r < 0) {
		oxc_fail(x->o->json, r, "%s", err);
		return r == -ENOENT ? 127 : 126;
	}
	x->status = oxc_record_wait(x->pid);
	oxc_record_signal_clear();
	/* The program's status is what we exit with, whatever the report. */
	report(x);
	return x->status;
}

static int record_exec(const struct oxc_cmd *self, const struct oxc_opts *o)
{
	static struct rec x;
	char err[1024];
	memset(&x, 0, sizeof(x));
	x.o = o;
	int r = check_opts(&x);
	if (r)
		return r;
	if (oxc_record_find_agent(x.agent_lib, sizeof(x.agent_lib), err, sizeof(err)) < 0)
		return oxc_fail(o->json, -ENOENT, "%s", err);
	/* Handlers first: a Ctrl-C while the private daemon starts must still
	 * lead to its removal. */
	oxc_record_signals();
	r = choose_daemon(&x);
	if (r == 0)
		r = run(&x);
	oxc_record_daemon_stop(&x.d);
	oxc_record_signals_restore();
	return r;
}

const struct oxc_cmd oxc_cmd_record = {
	.name = "record",
	.summary = "profile one program from start to exit",
	.usage = "record [--hz N] [--mode cpu|wall] [--depth N] [-o FILE]\n"
		 "       [--format folded|json] [--limit N] [--] CMD [ARGS...]\n"
		 "  Run CMD with the agent (liboxprof.so) preloaded and sampling from its\n"
		 "  first instruction, with every process it starts (forked or executed,\n"
		 "  and theirs in turn: the tree of CMD's pid).  Uses the oxprofd at\n"
		 "  the socket if one answers, else starts a private one for the run and\n"
		 "  removes it afterwards.  When CMD exits, prints the top functions to\n"
		 "  stderr and exits with CMD's status (128+N if killed by signal N).\n"
		 "  SIGINT, SIGTERM and SIGHUP sent to oxprofctl are passed on to CMD.\n"
		 "  With --json, CMD's standard output goes to stderr, so that stdout\n"
		 "  holds only the JSON document.\n"
		 "  --hz N        samples per second per thread (default 1000)\n"
		 "  --mode M      cpu (default) or wall\n"
		 "  --depth N     frames per stack, 1..512\n"
		 "  -o FILE       write the whole profile to FILE\n"
		 "  --format F    FILE's format: folded (default; json when FILE ends\n"
		 "                in .json) or json\n"
		 "  --limit N     rows in the table (default 20; 0 = all)\n"
		 "  Environment: OXPROF_AGENT (the agent library), OXPROFD (the\n"
		 "  oxprofd to start), TMPDIR (where the private daemon's dir goes).\n",
	.opts = OXC_OPT_RATE | OXC_OPT_RECORD,
	.min_args = 1,
	.max_args = -1,
	.exec = record_exec,
};
