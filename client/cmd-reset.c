/* cmd-reset.c - `oxprofctl reset`: forget the aggregated samples. */
#include "cmd.h"
#include "fleet.h"

static int reset_exec(const struct oxc_opts *o)
{
	return oxc_fleet_exec(o, OXP_CMD_RESET);
}

const struct oxc_cmd oxc_cmd_reset = {
	.name = "reset",
	.summary = "forget the aggregated samples",
	.usage = "reset\n"
		 "  Discard every aggregated sample in the daemon; the sampling state stays.\n",
	.opts = 0,
	.min_args = 0,
	.max_args = 0,
	.exec = reset_exec,
};
