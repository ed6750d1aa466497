/*
 * fleet.c - fleet and per-agent desired states as pure functions of the
 * commands that change them.  Every SET_STATE carries a fresh seq, so an
 * agent's ack (AGENT_STATE.ack_seq) says which state it applied.
 */
#include "fleet.h"

#include <errno.h>
#include <stdio.h>

#include "log.h"

void oxd_fleet_init(struct oxd_fleet *f, const struct oxd_config *cfg)
{
	f->state = (struct oxp_fleet){ 0, (uint8_t)cfg->mode, cfg->hz, cfg->depth };
	f->seq = 1;
}

const char *oxd_fleet_cmd_name(unsigned cmd)
{
	static const char *const names[] = { "?", "status", "start", "stop", "pause",
					     "unpause", "reset", "query" };
	return cmd < sizeof(names) / sizeof(names[0]) ? names[cmd] : "?";
}

int oxd_fleet_next(const struct oxp_command *cmd, struct oxp_fleet *f)
{
	if (cmd->cmd == OXP_CMD_START) {
		if (cmd->hz > OXP_MAX_HZ || cmd->depth > OXP_MAX_DEPTH ||
		    (cmd->mode != 0xff && cmd->mode > OXP_MODE_WALL))
			return -EINVAL;
		if (cmd->hz)
			f->hz = cmd->hz;
		if (cmd->mode != 0xff)
			f->mode = cmd->mode;
		if (cmd->depth)
			f->depth = cmd->depth;
	}
	f->running = cmd->cmd == OXP_CMD_START || cmd->cmd == OXP_CMD_UNPAUSE;
	return 0;
}

int oxd_fleet_selects(const struct oxp_selector *sel)
{
	return sel->npids || sel->exe.len || sel->tree;
}

static int proc_selected(const struct oxd_proc *p, void *arg)
{
	void **x = arg;
	return oxd_agg_proc_match(x[0], p, x[1]);
}

uint32_t oxd_fleet_forget(struct oxd_agg *a, const struct oxp_selector *sel)
{
	if (!oxd_fleet_selects(sel))
		return oxd_agg_reset(a, NULL, NULL);
	const void *x[2] = { a, sel };
	return oxd_agg_reset(a, proc_selected, x);
}

int oxd_fleet_reset(struct oxd_agg *a, const struct oxp_command *cmd, uint32_t *affected,
		    char *msg, size_t msglen)
{
	*affected = oxd_fleet_forget(a, &cmd->sel);
	if (oxd_fleet_selects(&cmd->sel) && !*affected) {
		snprintf(msg, msglen, "reset: the selector matched no process");
		return -OXP_ENOMATCH;
	}
	snprintf(msg, msglen, "reset: samples of %u process%s forgotten", *affected,
		 *affected == 1 ? "" : "es");
	oxd_info("%s", msg);
	return 0;
}
