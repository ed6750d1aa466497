/* cmd-pause.c - `oxprofctl pause`: disarm the agents' timers (no sampling cost). */
#include "cmd.h"
#include "fleet.h"

static int pause_exec(const struct oxc_opts *o)
{
	return oxc_fleet_exec(o, OXP_CMD_PAUSE);
}

const struct oxc_cmd oxc_cmd_pause = {
	.name = "pause",
	.summary = "disarm the agents' timers (no sampling cost)",
	.usage = "pause [--pid PID]... [--exe NAME]\n"
		 "  The agents disarm their timers and stay connected: zero sampling cost.\n"
		 "  --pid PID     only this process (repeatable)\n"
		 "  --exe NAME    only processes of this executable\n",
	.opts = OXC_OPT_SELECT,
	.min_args = 0,
	.max_args = 0,
	.exec = pause_exec,
};
