/* cmd-start.c - `oxprofctl start`: reset the aggregate, set rate and mode, and sample. */
#include "cmd.h"
#include "fleet.h"

static int start_exec(const struct oxc_opts *o)
{
	return oxc_fleet_exec(o, OXP_CMD_START);
}

const struct oxc_cmd oxc_cmd_start = {
	.name = "start",
	.summary = "reset the aggregate, set rate and mode, and sample",
	.usage = "start [--hz N] [--mode cpu|wall] [--depth N] [--pid PID]... [--exe NAME]\n"
		 "  Discard the aggregated samples, apply the given rate, mode and stack\n"
		 "  depth (the others keep their current value) and make the agents sample.\n"
		 "  Without a selector this sets the fleet state that new agents adopt.\n"
		 "  --hz N        samples per second per thread, 1..100000\n"
		 "  --mode M      cpu (on-CPU time) or wall (every thread, running or blocked)\n"
		 "  --depth N     frames per stack, 1..512\n"
		 "  --pid PID     only this process (repeatable)\n"
		 "  --exe NAME    only processes of this executable (basename or full path)\n",
	.opts = OXC_OPT_SELECT | OXC_OPT_RATE,
	.min_args = 0,
	.max_args = 0,
	.exec = start_exec,
};
