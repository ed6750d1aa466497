/*
 * fleet.c - fleet and per-agent desired states, and the commands that
 * change them.  Every SET_STATE carries a fresh seq, so an agent's ack
 * (AGENT_STATE.ack_seq) says which state it applied.
 */
#include "fleet.h"

#include <errno.h>
#include <stdio.h>

#include "conn.h"
#include "log.h"
#include "server.h"

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

/* The state after cmd, starting from base.  0 or -EINVAL. */
static int next_state(const struct oxp_command *cmd, struct oxp_fleet *f)
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

static int selects(const struct oxp_selector *sel)
{
	return sel->npids || sel->exe.len;
}

static int proc_selected(const struct oxd_proc *p, void *arg)
{
	void **x = arg;
	return oxd_agg_proc_match(x[0], p, x[1]);
}

/* Tell the selected agents; returns how many. */
static uint32_t tell_selected(struct oxd_server *s, const struct oxp_command *cmd)
{
	uint32_t n = 0;
	for (struct oxd_conn *c = s->conns, *next; c; c = next) {
		next = c->next; /* telling c may close it, which unlinks it */
		if (c->role != OXD_ROLE_AGENT || c->closing ||
		    !oxd_agg_proc_match(&s->agg, &s->agg.procs[c->proc], &cmd->sel))
			continue;
		struct oxp_fleet f = c->want;
		next_state(cmd, &f);
		oxd_conn_set_state(c, &f, ++s->fleet.seq, cmd->cmd == OXP_CMD_START);
		n++;
	}
	return n;
}

static uint32_t count_selected(struct oxd_server *s, const struct oxp_selector *sel)
{
	uint32_t n = 0;
	for (struct oxd_conn *c = s->conns; c; c = c->next)
		n += c->role == OXD_ROLE_AGENT && !c->closing &&
		     oxd_agg_proc_match(&s->agg, &s->agg.procs[c->proc], sel);
	return n;
}

int oxd_fleet_command(struct oxd_server *s, const struct oxp_command *cmd, uint32_t *affected,
		      char *msg, size_t msglen)
{
	struct oxp_fleet f = s->fleet.state;
	const char *name = oxd_fleet_cmd_name(cmd->cmd);
	*affected = 0;
	if (next_state(cmd, &f) < 0) {
		snprintf(msg, msglen, "bad start parameters (hz 1..%d, mode cpu|wall, depth 1..%d)",
			 OXP_MAX_HZ, OXP_MAX_DEPTH);
		return -EINVAL;
	}
	if (selects(&cmd->sel)) {
		if (!count_selected(s, &cmd->sel)) {
			snprintf(msg, msglen, "%s: the selector matched no connected agent", name);
			return -OXP_ENOMATCH;
		}
		if (cmd->cmd == OXP_CMD_START) {
			const void *x[2] = { &s->agg, &cmd->sel };
			oxd_agg_reset(&s->agg, proc_selected, x);
		}
		*affected = tell_selected(s, cmd);
	} else {
		if (cmd->cmd == OXP_CMD_START)
			oxd_agg_reset(&s->agg, NULL, NULL);
		s->fleet.state = f;
		s->fleet.seq++;
		for (struct oxd_conn *c = s->conns, *next; c; c = next) {
			next = c->next; /* telling c may close it, which unlinks it */
			if (c->role == OXD_ROLE_AGENT && !c->closing) {
				oxd_conn_set_state(c, &f, s->fleet.seq, cmd->cmd == OXP_CMD_START);
				(*affected)++;
			}
		}
	}
	snprintf(msg, msglen, "%s: %u agent%s told", name, *affected, *affected == 1 ? "" : "s");
	oxd_info("%s%s: %u agents told; fleet %s, %s, %u Hz, depth %u", name,
		 selects(&cmd->sel) ? " (selected agents)" : "", *affected,
		 s->fleet.state.running ? "running" : "paused",
		 s->fleet.state.mode == OXP_MODE_WALL ? "wall" : "cpu", s->fleet.state.hz,
		 s->fleet.state.depth);
	return 0;
}

int oxd_fleet_reset(struct oxd_server *s, const struct oxp_command *cmd, uint32_t *affected,
		    char *msg, size_t msglen)
{
	if (!selects(&cmd->sel)) {
		*affected = oxd_agg_reset(&s->agg, NULL, NULL);
	} else {
		const void *x[2] = { &s->agg, &cmd->sel };
		*affected = oxd_agg_reset(&s->agg, proc_selected, x);
		if (!*affected) {
			snprintf(msg, msglen, "reset: the selector matched no process");
			return -OXP_ENOMATCH;
		}
	}
	snprintf(msg, msglen, "reset: samples of %u process%s forgotten", *affected,
		 *affected == 1 ? "" : "es");
	oxd_info("%s", msg);
	return 0;
}
