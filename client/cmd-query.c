/* cmd-query.c - `oxprofctl query`: the aggregated profile. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "ctl.h"
#include "fail.h"
#include "flame.h"
#include "pprof.h"
#include "report.h"
#include "sink.h"
#include "term.h"

/* The table defaults to the top 20 rows; machine formats get everything. */
#define TABLE_LIMIT 20

static int selects(const struct oxc_opts *o)
{
	return o->npids || o->exe || o->thread;
}

/* "--pid 1 --exe x --thread y", as the user typed the selector. */
static void describe(const struct oxc_opts *o, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < o->npids && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s--pid %d", n ? " " : "", (int)o->pids[i]);
	if (o->exe && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s--exe %s", n ? " " : "", o->exe);
	if (o->thread && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s--thread %s", n ? " " : "", o->thread);
	if (o->since && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s--since %s", n ? " " : "", o->since);
	if (o->until && n < len)
		snprintf(buf + n, len - n, "%s--until %s", n ? " " : "", o->until);
}

/*
 * The no-match rule, one for every selector: a selector that matches no
 * sample is exit 1 with "no samples match ..." on stderr (and nothing on
 * stdout but the --json error document), as grep does; that the daemon
 * has no samples at all is said too, so the two are never confused.
 */
static int no_match(struct oxc_ctl *c, const struct oxc_opts *o)
{
	char sel[512];
	describe(o, sel, sizeof(sel));
	struct oxp_command cmd;
	struct oxc_opts all;
	oxc_opts_init(&all);
	oxc_ctl_command_init(&cmd, OXP_CMD_QUERY, &all);
	cmd.limit = 1;
	struct oxc_report any;
	oxc_report_init(&any, OXP_BY_FUNCTION, OXP_SORT_SELF);
	int empty = oxc_report_fetch(c, &cmd, &any) == 0 && any.total == 0;
	oxc_report_destroy(&any);
	return oxc_fail(o->json, -OXP_ENOMATCH, "no samples match %s%s", sel,
			empty ? " (the daemon has no samples yet)" : "");
}

static int query_exec(const struct oxc_cmd *self, const struct oxc_opts *o)
{
	int format = o->format == OXC_FMT_UNSET ? (o->json ? OXC_FMT_JSON : OXC_FMT_TABLE) : o->format;
	if (format != OXC_FMT_TABLE && !oxc_report_format_built(format))
		return oxc_fail(o->json, -ENOSYS, "--format %s: not built yet", oxc_format_name(format));
	/* Folded output (and the other stack formats) are stacks whatever the
	 * grouping says; JSON and the table follow --by. */
	int by = format == OXC_FMT_TABLE || format == OXC_FMT_JSON ? o->by :
								     oxc_report_format_by(format);
	long limit = o->limit >= 0 ? o->limit : (format == OXC_FMT_TABLE ? TABLE_LIMIT : 0);
	if (o->since_ms && o->until_ms && o->since_ms >= o->until_ms) {
		fprintf(stderr, "oxprofctl query: --since %s is not before --until %s\n", o->since,
			o->until);
		return 2;
	}
	if (format == OXC_FMT_PPROF && isatty(STDOUT_FILENO)) {
		fprintf(stderr, "oxprofctl query: pprof is gzip'ed binary: redirect it to a file\n");
		return 2;
	}
	struct oxc_ctl c;
	int r = oxc_ctl_connect(&c, o);
	if (r)
		return r;
	struct oxp_command cmd;
	oxc_ctl_command_init(&cmd, OXP_CMD_QUERY, o);
	if (format == OXC_FMT_PPROF || format == OXC_FMT_HTML) {
		/* Writers that ask the daemon themselves (report.c's table). */
		if (format == OXC_FMT_PPROF) {
			struct oxc_pprof_opts po = { c.fleet.mode, c.fleet.hz, o->no_demangle, 0 };
			cmd.limit = (uint32_t)(o->limit >= 0 ? o->limit : 0);
			r = oxc_pprof_save(&c, &cmd, &po, stdout, "standard output", NULL);
		} else {
			r = oxc_flame_fetch_write(&c, &cmd, NULL, stdout);
		}
		if (selects(o) && r == -OXP_ENOMATCH)
			r = no_match(&c, o);
		else if (r < 0 && oxc_sink_stdout_error())
			r = 1; /* standard output's error is reported at exit */
		else if (r < 0)
			r = oxc_ctl_fail(&c, o->json, r);
		oxc_ctl_close(&c);
		return r;
	}
	cmd.by = (uint8_t)by;
	cmd.sort = (uint8_t)o->sort;
	cmd.limit = (uint32_t)limit;
	struct oxc_report rep;
	oxc_report_init(&rep, by, o->sort);
	rep.no_demangle = o->no_demangle;
	r = oxc_report_fetch(&c, &cmd, &rep);
	if (selects(o) && (r == -OXP_ENOMATCH || (r == 0 && rep.total == 0))) {
		r = no_match(&c, o);
		goto out;
	}
	if (r < 0) {
		r = oxc_ctl_fail(&c, o->json, r);
		goto out;
	}
	if (format == OXC_FMT_TABLE)
		oxc_report_table(&rep, stdout, oxc_out_width(stdout, o->wide), oxc_out_color(stdout));
	else if ((r = oxc_report_write(&rep, format, stdout)) < 0)
		r = oxc_fail(o->json, r, "--format %s: %s", oxc_format_name(format), strerror(-r));
out:
	oxc_ctl_close(&c);
	oxc_report_destroy(&rep);
	return r;
}

const struct oxc_cmd oxc_cmd_query = {
	.name = "query",
	.summary = "show the aggregated profile (table, JSON or folded stacks)",
	.usage = "query [--format table|json|folded|pprof|html] [--by GROUP]\n"
		 "      [--sort self|total] [--limit N] [--wide] [--no-demangle]\n"
		 "      [--pid PID]... [--exe NAME] [--tree PID]\n"
		 "      [--thread TID|NAME]\n"
		 "      [--since WHEN] [--until WHEN]\n"
		 "  Samples aggregated so far, across all processes unless filtered.\n"
		 "  --format F    table (default), json (same as --json), or folded:\n"
		 "                `root;...;leaf COUNT` lines for flame graph tools, or\n"
		 "                pprof: gzip'ed profile.proto for go tool pprof (stdout\n"
		 "                must not be a terminal), or html: an interactive flame\n"
		 "                graph page (one file that works offline)\n"
		 "  --by GROUP    function (default), module, process, exe, thread, stack\n"
		 "  --sort KEY    self (default: samples in the row itself) or total\n"
		 "                (samples with the row anywhere on the stack)\n"
		 "  --limit N     rows to show; default 20 for the table, all otherwise;\n"
		 "                0 = all\n"
		 "  --wide        do not truncate names to the terminal width\n"
		 "  --no-demangle show C++ and Rust symbols as mangled in the binary\n"
		 "  --pid PID     only samples of this process (repeatable)\n"
		 "  --exe NAME    only samples of processes of this executable\n"
		 "  --tree PID    only samples of this process and its descendants\n"
		 "                (children it forked or ran, theirs, and so on)\n"
		 "  --thread T    only samples of this thread (tid or name)\n"
		 "  --since WHEN  only samples taken from WHEN on: a duration before now\n"
		 "                (30s, 5m, 2h, 1d, 1h30m) or a local time (14:00,\n"
		 "                14:00:30, 2026-12-01T14:00); the daemon answers from\n"
		 "                its time slots overlapping the window, which the\n"
		 "                header shows\n"
		 "  --until WHEN  only samples taken before WHEN (same forms)\n"
		 "  A selector (--pid, --exe, --thread) that matches no sample is exit\n"
		 "  status 1 with \"no samples match\" on stderr, as grep does.  Without\n"
		 "  one, an empty daemon shows \"no samples yet\" and exits 0.\n"
		 "  The table is truncated to the terminal's width when writing to a\n"
		 "  terminal; written to a pipe or file it is never truncated.\n",
	.opts = OXC_OPT_SELECT | OXC_OPT_THREAD | OXC_OPT_QUERY | OXC_OPT_WINDOW,
	.min_args = 0,
	.max_args = 0,
	.exec = query_exec,
};
