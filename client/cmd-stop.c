/* cmd-stop.c - `oxprofctl stop`: stop sampling and have the agents flush what they hold. */
#include "cmd.h"
#include "fleet.h"

static int stop_exec(const struct oxc_opts *o)
{
	return oxc_fleet_exec(o, OXP_CMD_STOP);
}

const struct oxc_cmd oxc_cmd_stop = {
	.name = "stop",
	.summary = "stop sampling and have the agents flush what they hold",
	.usage = "stop [--pid PID]... [--exe NAME]\n"
		 "  Pause sampling; the agents send the samples they still hold.\n"
		 "  --pid PID     only this process (repeatable)\n"
		 "  --exe NAME    only processes of this executable\n",
	.opts = OXC_OPT_SELECT,
	.min_args = 0,
	.max_args = 0,
	.exec = stop_exec,
};
