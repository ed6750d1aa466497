/*
 * cmd-record.c - `oxprofctl record -- CMD ARGS...`: profile one program from
 * its first instruction to its exit, with the running daemon or a private
 * one, then print the top functions and write a profile file if asked.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ox/clock.h"
#include "cmd.h"
#include "ctl.h"
#include "fail.h"
#include "flame.h"
#include "json.h"
#include "pprof.h"
#include "record.h"
#include "report.h"
#include "sink.h"
#include "term.h"

#define RECORD_HZ 1000         /* default rate: enough samples in a short run */
#define TABLE_LIMIT 20
#define DAEMON_START_MS 5000   /* a private daemon must answer by then */
#define AGENT_EXIT_MS 3000     /* bound on waiting for the agent's last batch */
#define AGENT_ABSENT_MS 1000   /* give up sooner when it never connected */
#define SHORT_RUN_MS 1000      /* a silent agent in a shorter run: maybe no time to connect */

struct rec {
	const struct oxc_opts *o;
	char sock[PATH_MAX];
	int private_daemon;
	struct oxc_daemon d;
	char agent_lib[PATH_MAX];
	pid_t pid;
	int status;
	int file_format;
	struct oxc_sink out;    /* -o FILE, opened before the program starts */
	char cannot[PATH_MAX + 128]; /* why the agent cannot load, seen before exec */
	uint64_t ran_ms;        /* from the start to the end of the program */
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
		if (r < 0 && r != -OXP_ENOMATCH) /* no agent of the tree yet */
			return r;
		uint64_t waited = ox_mono_ms() - start;
		if ((x->seen && !x->pending) || oxc_record_signal_seen() ||
		    waited >= (x->seen ? AGENT_EXIT_MS : AGENT_ABSENT_MS))
			return 0;
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
}

static void query_cmd(struct rec *x, struct oxp_command *cmd, int by, long limit)
{
	oxc_ctl_command_init(cmd, OXP_CMD_QUERY, x->o);
	/* A shared daemon holds other processes' samples too: CMD's tree. */
	select_tree(x, cmd);
	cmd->by = (uint8_t)by;
	cmd->sort = OXP_SORT_SELF;
	cmd->limit = (uint32_t)limit;
}

static int run_query(struct rec *x, struct oxc_ctl *c, int by, long limit, struct oxc_report *rep)
{
	struct oxp_command cmd;
	query_cmd(x, &cmd, by, limit);
	oxc_report_init(rep, by, OXP_SORT_SELF);
	rep->no_demangle = x->o->no_demangle;
	return oxc_report_fetch(c, &cmd, rep);
}

/* -o FILE.html: the flame graph page, titled with the command line. */
static int write_html(struct rec *x, struct oxc_ctl *c, uint64_t *stacks)
{
	char title[512];
	size_t n = 0;
	title[0] = 0;
	for (int i = 0; i < x->o->argc && n < sizeof(title); i++)
		n += (size_t)snprintf(title + n, sizeof(title) - n, "%s%s", i ? " " : "",
				      x->o->argv[i]);
	struct oxp_command cmd;
	query_cmd(x, &cmd, OXP_BY_STACK, 0);
	*stacks = 0;
	return oxc_flame_fetch_write(c, &cmd, title, x->out.f);
}

/* -o FILE.pb.gz: the profile as pprof, from its own by=frames query. */
static int write_pprof(struct rec *x, struct oxc_ctl *c, uint64_t *stacks)
{
	struct oxp_command cmd;
	query_cmd(x, &cmd, OXP_BY_FRAMES, 0);
	struct oxc_pprof_opts po = { x->o->mode == OXP_MODE_WALL ? OXP_MODE_WALL : OXP_MODE_CPU,
				     x->o->hz ? x->o->hz : RECORD_HZ, x->o->no_demangle, 0 };
	struct oxc_pprof_info info = { 0 };
	int r = oxc_pprof_save(c, &cmd, &po, x->out.f, x->out.name, &info);
	*stacks = info.samples;
	return r;
}

/* -o FILE: the whole profile in the file's format, all or nothing.  The
 * sink was opened before the program started.  0, or 1 on failure. */
static int write_file(struct rec *x, struct oxc_ctl *c)
{
	if (x->file_format == OXC_FMT_PPROF || x->file_format == OXC_FMT_HTML) {
		/* Writers that ask the daemon themselves (report.c's table). */
		int pprof = x->file_format == OXC_FMT_PPROF;
		uint64_t n = 0;
		int r = pprof ? write_pprof(x, c, &n) : write_html(x, c, &n);
		if (r < 0 && x->out.err == 0 && r != -EIO) {
			oxc_sink_discard(&x->out);
			return oxc_ctl_fail(c, x->o->json, r);
		}
		if (r < 0)
			oxc_sink_discard(&x->out);
		else
			r = oxc_sink_close(&x->out);
		if (r < 0)
			return oxc_fail(x->o->json, r, "cannot write %s: %s", x->out.name,
					strerror(x->out.err && x->out.err != -ECANCELED ?
						 -x->out.err : -r));
		if (pprof)
			fprintf(stderr, "oxprofctl: wrote %llu stacks (pprof) to %s\n",
				(unsigned long long)n, x->out.name);
		else
			fprintf(stderr, "oxprofctl: wrote the flame graph to %s\n", x->out.name);
		return 0;
	}
	struct oxc_report rep;
	int r = run_query(x, c, oxc_report_format_by(x->file_format), 0, &rep);
	if (r < 0) {
		oxc_report_destroy(&rep);
		oxc_sink_discard(&x->out);
		return oxc_ctl_fail(c, x->o->json, r);
	}
	r = oxc_report_write(&rep, x->file_format, x->out.f);
	if (r < 0)
		oxc_sink_discard(&x->out);
	else
		r = oxc_sink_close(&x->out);
	if (r < 0) {
		oxc_report_destroy(&rep);
		return oxc_fail(x->o->json, r, "cannot write %s: %s", x->out.name, strerror(-r));
	}
	fprintf(stderr, "oxprofctl: wrote %u %s to %s\n", (unsigned)rep.nrows,
		x->file_format == OXC_FMT_JSON ? "functions" : "stacks", x->out.name);
	oxc_report_destroy(&rep);
	return 0;
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

/*
 * No profile: say what is known, most certain first (what we saw before
 * the start, what the agent said, that it said nothing), and return
 * OXC_EXIT_NOPROFILE.
 */
static int no_profile(const struct rec *x)
{
	const struct oxc_opts *o = x->o;
	const char *prog = o->argv[0];
	unsigned long long ms = (unsigned long long)x->ran_ms;
	if (x->cannot[0])
		oxc_fail(o->json, -ENOENT, "no profile: %s ran %llu ms, 0 samples: %s", prog, ms,
			 x->cannot);
	else if (x->seen && x->row.state == OXP_AGENT_DISABLED)
		oxc_fail(o->json, -ENOENT, "no profile: %s ran %llu ms, 0 samples: the agent in "
			 "pid %d did not start sampling: %s", prog, ms, (int)x->row.pid, x->source);
	else if (x->seen)
		/* An agent that connected but never reported its state has no
		 * rate or source to show. */
		oxc_fail(o->json, -ENOENT, "no profile: %s ran %llu ms, 0 samples%s%.0u%s%s%s: the "
			 "run was too short to be sampled; try a higher --hz, or --mode wall for a "
			 "program that mostly waits", prog, ms, x->row.hz_requested ? " at " : "",
			 (unsigned)x->row.hz_requested, x->row.hz_requested ? " Hz" : "",
			 x->source[0] ? ", " : "", x->source);
	else if (ms < SHORT_RUN_MS)
		oxc_fail(o->json, -ENOENT, "no profile: %s ran %llu ms, 0 samples: no agent reported "
			 "from pid %d; a run this short can end before its agent connects",
			 prog, ms, (int)x->pid);
	else
		oxc_fail(o->json, -ENOENT, "no profile: %s ran %llu ms, 0 samples: no agent reported "
			 "from pid %d (does %s clear LD_PRELOAD, or not trust the daemon at %s?)",
			 prog, ms, (int)x->pid, prog, x->sock);
	return OXC_EXIT_NOPROFILE;
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
	oxc_json_u64(&j, "ran_ms", x->ran_ms);
	oxc_json_cstr(&j, "daemon", x->private_daemon ? "private" : "shared");
	oxc_json_cstr(&j, "socket", x->sock);
	oxc_json_cstr(&j, "output", x->o->output);
	oxc_json_cstr(&j, "output_format", x->o->output ? oxc_format_name(x->file_format) : NULL);
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

/*
 * After the program ended: wait for its agent, then report.  0 when the
 * profile was shown (and written), 1 when writing it failed,
 * OXC_EXIT_NOPROFILE when there is none.
 */
static int report(struct rec *x)
{
	const struct oxc_opts *o = x->o;
	struct oxc_ctl c;
	struct oxc_report rep;
	int r = oxc_ctl_open(&c, x->sock, OXC_HANDSHAKE_MS);
	if (r < 0) {
		oxc_ctl_fail(&c, o->json, r);
		return OXC_EXIT_NOPROFILE;
	}
	oxc_report_init(&rep, OXP_BY_FUNCTION, OXP_SORT_SELF);
	if ((r = wait_agents(x, &c)) == 0)
		r = run_query(x, &c, OXP_BY_FUNCTION, o->limit >= 0 ? o->limit : TABLE_LIMIT, &rep);
	if (r == -OXP_ENOMATCH && !x->seen) {
		r = no_profile(x);
		goto out;
	}
	if (r < 0) {
		oxc_ctl_fail(&c, o->json, r);
		r = OXC_EXIT_NOPROFILE;
		goto out;
	}
	status_line(x);
	if (!x->seen || !rep.total) {
		r = no_profile(x);
		goto out;
	}
	oxc_report_table(&rep, stderr, oxc_out_width(stderr, 0), oxc_out_color(stderr));
	/* The file first: a document on stdout must not claim an output that
	 * was then lost. */
	if (o->output && (r = write_file(x, &c)) != 0)
		goto out;
	if (o->json)
		print_json(x, &rep);
	r = 0;
out:
	oxc_report_destroy(&rep);
	oxc_ctl_close(&c);
	return r;
}

/* ".pb.gz" and the like at the end of name, in any case. */
static int ends_with(const char *name, const char *ext)
{
	size_t n = strlen(name), e = strlen(ext);
	return n > e && !strcasecmp(name + n - e, ext);
}

/* The format a file name asks for; OXC_FMT_UNSET when it names none
 * (".txt", no extension: folded unless --format says otherwise);
 * OXC_FMT_TABLE for ".svg", which we do not write. */
static int format_of_name(const char *name)
{
	if (ends_with(name, ".pb.gz") || ends_with(name, ".pprof"))
		return OXC_FMT_PPROF;
	if (ends_with(name, ".html") || ends_with(name, ".htm"))
		return OXC_FMT_HTML;
	if (ends_with(name, ".json"))
		return OXC_FMT_JSON;
	if (ends_with(name, ".folded"))
		return OXC_FMT_FOLDED;
	if (ends_with(name, ".svg"))
		return OXC_FMT_TABLE;
	return OXC_FMT_UNSET;
}

/* Options that make sense only together, and the file format; all checked
 * before anything starts.  0 or the exit code. */
static int check_opts(struct rec *x)
{
	const struct oxc_opts *o = x->o;
	if (o->format == OXC_FMT_TABLE) {
		fprintf(stderr, "oxprofctl record: --format table: the table always goes to stderr; "
			"use folded, json, pprof or html for -o FILE\n");
		return OXC_EXIT_USAGE;
	}
	if (o->format != OXC_FMT_UNSET && !o->output) {
		fprintf(stderr, "oxprofctl record: --format %s needs -o FILE (--json writes a "
			"document with the profile on stdout)\n", oxc_format_name(o->format));
		return OXC_EXIT_USAGE;
	}
	if (!o->output)
		return 0;
	int named = format_of_name(o->output);
	if (named == OXC_FMT_TABLE) {
		fprintf(stderr, "oxprofctl record: -o %s: oxprofctl does not write SVG; name the "
			"file .html for a flame graph, or .folded for flamegraph.pl\n", o->output);
		return OXC_EXIT_USAGE;
	}
	x->file_format = o->format != OXC_FMT_UNSET ? o->format :
			 named != OXC_FMT_UNSET	    ? named : OXC_FMT_FOLDED;
	if (named != OXC_FMT_UNSET && named != x->file_format) {
		fprintf(stderr, "oxprofctl record: --format %s, but -o %s names a %s file\n",
			oxc_format_name(x->file_format), o->output, oxc_format_name(named));
		return OXC_EXIT_USAGE;
	}
	if (!oxc_report_format_built(x->file_format))
		return oxc_fail(o->json, -ENOSYS, "-o %s: %s output is not built yet", o->output,
				oxc_format_name(x->file_format));
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
	oxc_record_unpreloadable(x->o->argv[0], x->cannot, sizeof(x->cannot));
	uint64_t t0 = ox_mono_ms();
	int r = oxc_record_spawn(&s, &x->pid, err, sizeof(err));
	if (r < 0) {
		oxc_fail(x->o->json, r, "%s", err);
		return r == -ENOENT ? 127 : 126;
	}
	x->status = oxc_record_wait(x->pid);
	x->ran_ms = ox_mono_ms() - t0;
	oxc_record_signal_clear();
	/* The program's status is what we exit with when there is a profile. */
	r = report(x);
	return r ? r : x->status;
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
	/* The output file is created now: a path that cannot be written must
	 * not cost a whole run of the program. */
	if (o->output && (r = oxc_sink_open(&x.out, o->output)) < 0) {
		oxc_fail(o->json, r, "cannot write %s: %s", o->output, strerror(-r));
		return OXC_EXIT_USAGE;
	}
	/* Handlers first: a Ctrl-C while the private daemon starts must still
	 * lead to its removal. */
	oxc_record_signals();
	r = choose_daemon(&x);
	if (r == 0)
		r = run(&x);
	/* Unless the profile was written, the file stays as it was. */
	oxc_sink_discard(&x.out);
	oxc_record_daemon_stop(&x.d);
	oxc_record_signals_restore();
	return r;
}

const struct oxc_cmd oxc_cmd_record = {
	.name = "record",
	.summary = "profile one program from start to exit",
	.usage = "record [--hz N] [--mode cpu|wall] [--depth N] [-o FILE]\n"
		 "       [--format folded|json|pprof|html] [--limit N] [--no-demangle]\n"
		 "       [--] CMD [ARGS...]\n"
		 "  Run CMD with the agent (liboxprof.so) preloaded and sampling from its\n"
		 "  first instruction, with every process it starts (forked or executed,\n"
		 "  and theirs in turn: the tree of CMD's pid).  Uses the oxprofd at\n"
		 "  the socket if one answers, else starts a private one for the run and\n"
		 "  removes it afterwards.  When CMD exits, prints the top functions to\n"
		 "  stderr and exits with CMD's status (128+N if killed by signal N); when\n"
		 "  no profile could be made, says why and exits with 3.\n"
		 "  SIGINT, SIGTERM and SIGHUP sent to oxprofctl are passed on to CMD.\n"
		 "  With --json, CMD's standard output goes to stderr, so that stdout\n"
		 "  holds only the JSON document.\n"
		 "  --hz N        samples per second per thread, 1.." OXC_STR(OXP_MAX_HZ) " (default 1000)\n"
		 "  --mode M      cpu (default) or wall\n"
		 "  --depth N     frames per stack, 1.." OXC_STR(OXP_MAX_DEPTH) "\n"
		 "  -o FILE       write the whole profile to FILE; it is created before CMD\n"
		 "                starts and replaced only by a complete profile\n"
		 "  --format F    FILE's format, by default from its name: .json json,\n"
		 "                .pb.gz or .pprof pprof, .html html (a flame graph),\n"
		 "                anything else folded (flamegraph.pl); .svg is refused\n"
		 "  --no-demangle show C++ and Rust symbols as mangled in the binary\n"
		 "  --limit N     rows in the table (default 20; 0 = all)\n"
		 "  Environment: OXPROF_AGENT (the agent library), OXPROFD (the\n"
		 "  oxprofd to start), TMPDIR (where the private daemon's dir goes).\n",
	.opts = OXC_OPT_RATE | OXC_OPT_RECORD,
	.min_args = 1,
	.max_args = -1,
	.exec = record_exec,
};
