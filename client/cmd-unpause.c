/* cmd-unpause.c - `oxprofctl unpause`: arm the agents' timers: sampling begins. */
#include "cmd.h"
#include "fleet.h"

static int unpause_exec(const struct oxc_opts *o)
{
	return oxc_fleet_exec(o, OXP_CMD_UNPAUSE);
}

const struct oxc_cmd oxc_cmd_unpause = {
	.name = "unpause",
	.summary = "arm the agents' timers: sampling begins",
	.usage = "unpause [--pid PID]... [--exe NAME]\n"
		 "  The agents arm their timers at the current rate and mode.  Without a\n"
		 "  selector, agents that connect later sample at once too.\n"
		 "  --pid PID     only this process (repeatable)\n"
		 "  --exe NAME    only processes of this executable\n",
	.opts = OXC_OPT_SELECT,
	.min_args = 0,
	.max_args = 0,
	.exec = unpause_exec,
};
