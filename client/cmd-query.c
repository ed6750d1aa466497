/* cmd-query.c - `oxprofctl query`: the aggregated profile. */
#include <errno.h>
#include <stdio.h>

#include "cmd.h"
#include "ctl.h"
#include "report.h"
#include "term.h"

/* The table defaults to the top 20 rows; machine formats get everything. */
#define TABLE_LIMIT 20

static int query_exec(const struct oxc_cmd *self, const struct oxc_opts *o)
{
	int format = o->format == OXC_FMT_UNSET ? (o->json ? OXC_FMT_JSON : OXC_FMT_TABLE) : o->format;
	int by = o->by;
	/* Folded output is stacks whatever the grouping says. */
	if (format == OXC_FMT_FOLDED)
		by = OXP_BY_STACK;
	long limit = o->limit >= 0 ? o->limit : (format == OXC_FMT_TABLE ? TABLE_LIMIT : 0);
	struct oxc_ctl c;
	int r = oxc_ctl_connect(&c, o);
	if (r)
		return r;
	struct oxp_command cmd;
	oxc_ctl_command_init(&cmd, OXP_CMD_QUERY, o);
	cmd.by = (uint8_t)by;
	cmd.sort = (uint8_t)o->sort;
	cmd.limit = (uint32_t)limit;
	struct oxc_report rep;
	oxc_report_init(&rep, by, o->sort);
	r = oxc_report_fetch(&c, &cmd, &rep);
	oxc_ctl_close(&c);
	if (r < 0) {
		oxc_report_destroy(&rep);
		return oxc_ctl_fail(&c, o->json, r);
	}
	if (format == OXC_FMT_JSON)
		oxc_report_json(&rep, stdout);
	else if (format == OXC_FMT_FOLDED)
		oxc_report_folded(&rep, stdout);
	else
		oxc_report_table(&rep, stdout, oxc_out_width(stdout, o->wide), oxc_out_color(stdout));
	oxc_report_destroy(&rep);
	return 0;
}

const struct oxc_cmd oxc_cmd_query = {
	.name = "query",
	.summary = "show the aggregated profile (table, JSON or folded stacks)",
	.usage = "query [--format table|json|folded] [--by GROUP] [--sort self|total]\n"
		 "      [--limit N] [--wide] [--pid PID]... [--exe NAME] [--tree PID]\n"
		 "      [--thread TID|NAME]\n"
		 "  Samples aggregated so far, across all processes unless filtered.\n"
		 "  --format F    table (default), json (same as --json), or folded:\n"
		 "                `root;...;leaf COUNT` lines for flame graph tools\n"
		 "  --by GROUP    function (default), module, process, exe, thread, stack\n"
		 "  --sort KEY    self (default: samples in the row itself) or total\n"
		 "                (samples with the row anywhere on the stack)\n"
		 "  --limit N     rows to show; default 20 for the table, all otherwise;\n"
		 "                0 = all\n"
		 "  --wide        do not truncate names to the terminal width\n"
		 "  --pid PID     only samples of this process (repeatable)\n"
		 "  --exe NAME    only samples of processes of this executable\n"
		 "  --tree PID    only samples of this process and its descendants\n"
		 "                (children it forked or ran, theirs, and so on)\n"
		 "  --thread T    only samples of this thread (tid or name)\n"
		 "  The table is truncated to the terminal's width when writing to a\n"
		 "  terminal; written to a pipe or file it is never truncated.\n",
	.opts = OXC_OPT_SELECT | OXC_OPT_THREAD | OXC_OPT_QUERY,
	.min_args = 0,
	.max_args = 0,
	.exec = query_exec,
};
