/*
 * daemon.c - the hub: the daemon's state, snapshots and their timers, fleet
 * commands applied to the connections, graceful stop.
 */
#include "daemon.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ox/clock.h"
#include "log.h"
#include "server.h"
#include "snapshot.h"

/* ---- telling agents ---- */

/* Tell an agent its desired state (SET_STATE) and flush: may close c. */
static void tell_state(struct oxd_conn *c, const struct oxp_fleet *f, uint64_t seq, int reset)
{
	c->want = *f;
	c->want_seq = seq;
	struct oxp_msg m = { .type = OXP_MSG_SET_STATE };
	m.u.set_state = (struct oxp_set_state){ *f, seq, (uint8_t)reset };
	oxd_conn_send(c, &m);
	oxd_conn_flush(c);
}

/* A snapshot was written: tell the agent how far its batches are now
 * durable (DURABLE), if that moved.  May close c. */
static void tell_durable(struct oxd_server *s, struct oxd_conn *c)
{
	if (c->role != OXD_ROLE_AGENT || c->closing)
		return;
	uint64_t seq = s->agg.procs[c->proc].seq_durable;
	if (seq <= c->durable_told)
		return;
	c->durable_told = seq;
	struct oxp_msg m = { .type = OXP_MSG_DURABLE };
	m.u.durable.seq = seq;
	oxd_conn_send(c, &m);
	oxd_conn_flush(c);
}

static int agent_selected(struct oxd_server *s, const struct oxd_conn *c,
			  const struct oxp_selector *sel)
{
	return c->role == OXD_ROLE_AGENT && !c->closing &&
	       (!oxd_fleet_selects(sel) || oxd_agg_proc_match(&s->agg, &s->agg.procs[c->proc], sel));
}

/*
 * Tell the selected agents (all: an empty selector) the state cmd leads
 * to from what each was told; fleet non-NULL: that state for all.  Telling
 * one may close it (it does not read), which unlinks it from the list, so
 * the next is taken before.  Returns how many were told.
 */
static uint32_t tell_agents(struct oxd_server *s, const struct oxp_command *cmd,
			    const struct oxp_fleet *fleet)
{
	uint32_t n = 0;
	for (struct oxd_conn *c = s->net.conns, *next; c; c = next) {
		next = c->next;
		if (!agent_selected(s, c, &cmd->sel))
			continue;
		struct oxp_fleet f = fleet ? *fleet : c->want;
		if (!fleet)
			oxd_fleet_next(cmd, &f);
		tell_state(c, &f, fleet ? s->fleet.seq : ++s->fleet.seq, cmd->cmd == OXP_CMD_START);
		n++;
	}
	return n;
}

static uint32_t count_selected(struct oxd_server *s, const struct oxp_selector *sel)
{
	uint32_t n = 0;
	for (struct oxd_conn *c = s->net.conns; c; c = c->next)
		n += agent_selected(s, c, sel);
	return n;
}

int oxd_server_command(struct oxd_server *s, const struct oxp_command *cmd, uint32_t *affected,
		       char *msg, size_t msglen)
{
	struct oxp_fleet f = s->fleet.state;
	const char *name = oxd_fleet_cmd_name(cmd->cmd);
	int selects = oxd_fleet_selects(&cmd->sel);
	*affected = 0;
	if (oxd_fleet_next(cmd, &f) < 0) {
		snprintf(msg, msglen, "bad start parameters (hz 1..%d, mode cpu|wall, depth 1..%d)",
			 OXP_MAX_HZ, OXP_MAX_DEPTH);
		return -EINVAL;
	}
	if (selects && !count_selected(s, &cmd->sel)) {
		snprintf(msg, msglen, "%s: the selector matched no connected agent", name);
		return -OXP_ENOMATCH;
	}
	if (cmd->cmd == OXP_CMD_START)
		oxd_fleet_forget(&s->agg, &cmd->sel);
	if (!selects) {
		s->fleet.state = f;
		s->fleet.seq++;
	}
	*affected = tell_agents(s, cmd, selects ? NULL : &f);
	snprintf(msg, msglen, "%s: %u agent%s told", name, *affected, *affected == 1 ? "" : "s");
	oxd_info("%s%s: %u agents told; fleet %s, %s, %u Hz, depth %u", name,
		 selects ? " (selected agents)" : "", *affected,
		 s->fleet.state.running ? "running" : "paused",
		 s->fleet.state.mode == OXP_MODE_WALL ? "wall" : "cpu", s->fleet.state.hz,
		 s->fleet.state.depth);
	return 0;
}

/* ---- snapshots ---- */

static void on_snapshot_timer(uv_timer_t *t)
{
	oxd_server_snapshot(t->data, 0);
}

/*
 * Agents keep every batch until a snapshot holds it (PROTOCOL.md,
 * DURABLE), so a snapshot follows new batches soon: after DURABLE_WAIT_MS,
 * to gather the batches of many agents into one write, and no sooner than
 * DURABLE_GAP_MS, or WRITE_SHARE times the last write's duration, after the
 * previous one, so snapshots take at most 1/WRITE_SHARE of the loop however
 * large the aggregate.  Never later than --snapshot-interval.
 */
#define DURABLE_WAIT_MS 50
#define DURABLE_GAP_MS 1000
#define WRITE_SHARE 20

void oxd_server_batch(struct oxd_server *s)
{
	if (!s->cfg->state_dir[0] || s->net.stopping ||
	    uv_is_active((uv_handle_t *)&s->durable_timer))
		return;
	double gap = s->snap_write_ms * WRITE_SHARE;
	if (gap < DURABLE_GAP_MS)
		gap = DURABLE_GAP_MS;
	if (gap > s->cfg->snapshot_ms)
		gap = s->cfg->snapshot_ms;
	uint64_t now = uv_now(s->loop), at = s->snap_done_ms + (uint64_t)gap;
	uint64_t wait = at > now + DURABLE_WAIT_MS ? at - now : DURABLE_WAIT_MS;
	uv_timer_start(&s->durable_timer, on_snapshot_timer, wait, 0);
}

int oxd_server_listen(struct oxd_server *s)
{
	int r = oxd_net_listen(&s->net);
	if (r < 0)
		return r;
	oxd_notice("oxprofd %s serving %s%s; fleet %s, %s, %u Hz, depth %u", OXPROF_VERSION,
		   s->net.path, s->net.socket_activated ? " (from systemd)" : "",
		   s->fleet.state.running ? "running" : "paused",
		   s->fleet.state.mode == OXP_MODE_WALL ? "wall" : "cpu", s->fleet.state.hz,
		   s->fleet.state.depth);
	if (s->cfg->state_dir[0])
		uv_timer_start(&s->snapshot_timer, on_snapshot_timer, s->cfg->snapshot_ms,
			       s->cfg->snapshot_ms);
	oxd_net_ready();
	return 0;
}

/* ---- state ---- */

int oxd_server_init(struct oxd_server *s, uv_loop_t *loop, const struct oxd_config *cfg,
		    const struct oxd_net_ops *ops)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->cfg = cfg;
	s->start_ms = ox_wall_ms();
	oxd_net_init(&s->net, loop, cfg, &s->agg, ops, s);
	oxd_agg_init(&s->agg, cfg->mem_budget, cfg->agent_mem_budget);
	oxd_fleet_init(&s->fleet, cfg);
	uv_timer_init(loop, &s->snapshot_timer);
	s->snapshot_timer.data = s;
	uv_timer_init(loop, &s->durable_timer);
	s->durable_timer.data = s;
	if (cfg->state_dir[0] && oxd_snapshot_load(&s->agg, cfg->state_dir))
		s->snap_mark = s->agg.dirty;
	s->agg.bud.uid_limit = cfg->uid_mem_budget; /* after the load, which replaces agg */
	uint32_t w[3], k[2];
	for (int i = 0; i < 3; i++)
		w[i] = cfg->hist_ms[i] / 1000;
	for (int i = 0; i < 2; i++)
		k[i] = cfg->hist_keep_ms[i] / 1000;
	oxd_hist_config(&s->agg, w, k, cfg->hist_mem_budget);
	return 0;
}

void oxd_server_snapshot(struct oxd_server *s, int force)
{
	if (!s->cfg->state_dir[0])
		return;
	/* Anything new since the last one? */
	uint64_t mark = s->agg.dirty;
	if (mark == s->snap_mark && !force)
		return;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t bytes = 0;
	int r = oxd_snapshot_write(&s->agg, s->cfg->state_dir, &bytes);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	s->snap_write_ms = ms;
	uv_update_time(s->loop);
	s->snap_done_ms = uv_now(s->loop);
	uv_timer_stop(&s->durable_timer);
	if (r < 0) {
		/* Agents keep holding their batches (and, once their buffers are
		 * full, drop and count new stacks) until a write works again. */
		oxd_err("snapshot to %s failed: %s", s->cfg->state_dir, strerror(-r));
		return;
	}
	s->snap_mark = mark;
	/* Everything aggregated is in the file now: tell the agents. */
	for (size_t i = 0; i < s->agg.nprocs; i++)
		s->agg.procs[i].seq_durable = s->agg.procs[i].seq_received;
	for (struct oxd_conn *c = s->net.conns, *next; c; c = next) {
		next = c->next; /* telling c may close it, which unlinks it */
		tell_durable(s, c);
	}
	oxd_log(force ? OX_LOG_INFO : OX_LOG_DEBUG,
		"snapshot written: %llu bytes, %llu samples, %zu stacks, %.1f ms",
		(unsigned long long)bytes, (unsigned long long)s->agg.samples, s->agg.nstacks, ms);
}

void oxd_server_stop(struct oxd_server *s, const char *why)
{
	if (s->net.stopping)
		return;
	oxd_net_stop(&s->net);
	oxd_notice("stopping (%s): telling %u connections", why, s->net.nconns);
	while (s->net.conns) /* each goes out of the list as it closes */
		oxd_conn_bye(s->net.conns, "oxprofd is stopping");
	uv_close((uv_handle_t *)&s->snapshot_timer, NULL);
	uv_close((uv_handle_t *)&s->durable_timer, NULL);
	oxd_server_snapshot(s, 1);
}

void oxd_server_destroy(struct oxd_server *s)
{
	oxd_agg_destroy(&s->agg);
}
