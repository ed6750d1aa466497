/*
 * peer.c - what one peer says, and the daemon's answers: the handshake
 * (HELLO, access, who the agent is), an agent's batches and reports, a
 * control client's commands and streamed query replies.  The connections
 * (net/conn.c) call in through oxd_peer_ops.
 */
#include "peer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "ox/clock.h"
#include "daemon.h"
#include "fleet.h"
#include "log.h"
#include "procinfo.h"
#include "query.h"
#include "status.h"

#define PROC_START_SLACK_MS 1000 /* /proc start times are in ticks */

static struct oxd_server *srv_of(const struct oxd_conn *c)
{
	return c->net->data;
}

/* ---- handshake ---- */

static void welcome(struct oxd_conn *c)
{
	struct oxp_msg m = { .type = OXP_MSG_WELCOME };
	uint64_t durable = 0, received = 0;
	if (c->role == OXD_ROLE_AGENT) {
		durable = c->durable_told = srv_of(c)->agg.procs[c->proc].seq_durable;
		received = srv_of(c)->agg.procs[c->proc].seq_received;
	}
	m.u.welcome = (struct oxp_welcome){ oxp_str_c("oxprofd " OXPROF_VERSION),
					    srv_of(c)->fleet.state, srv_of(c)->fleet.seq,
					    srv_of(c)->cfg->flush_ms, durable, received };
	oxd_conn_send(c, &m);
}

static struct oxp_str cut(struct oxp_str s, uint32_t max)
{
	if (s.len > max)
		s.len = max;
	return s;
}

/* Who the agent is: the kernel's word if /proc has it, else its claim. */
static void identify(struct oxd_conn *c, const struct oxp_hello *h, struct oxd_ident *id,
		     struct oxd_procinfo *pi)
{
	*id = (struct oxd_ident){ .pid = c->pid, .uid = c->uid, .ppid = h->ppid };
	int r = oxd_procinfo_read(c->pid, c->uid, c->start_time, pi);
	for (size_t i = 0; i < srv_of(c)->cfg->ntrust_uids; i++)
		if (srv_of(c)->cfg->trust_uids[i] == c->uid) { /* --trust-claims */
			id->start_time = r == 0 ? pi->start : 0;
			id->exe = cut(h->exe, OXD_EXE_MAX);
			id->cmdline = cut(h->cmdline, OXD_CMDLINE_MAX);
			return;
		}
	if (r == 0) {
		id->start_time = pi->start;
		id->ppid = pi->ppid;
		id->exe = (struct oxp_str){ pi->exe, (uint32_t)pi->exe_len };
		id->cmdline = (struct oxp_str){ pi->cmdline, (uint32_t)pi->cmdline_len };
		return;
	}
	id->claimed = 1;
	id->exe = cut(h->exe, OXD_EXE_MAX);
	id->cmdline = cut(h->cmdline, OXD_CMDLINE_MAX);
	oxd_info("agent pid %d uid %u: /proc/%d cannot vouch for it (%s); its exe %.*s is "
		 "shown as claimed", (int)c->pid, (unsigned)c->uid, (int)c->pid,
		 r == -ESRCH ? "gone, or another process now" : strerror(-r),
		 (int)(id->exe.len > 200 ? 200 : id->exe.len), id->exe.ptr);
}

/* A new connection of an agent instance whose old connection we still
 * hold (its end broke first): the old one goes, unread input and all, so
 * what WELCOME says was received is final and the row is taken over. */
static void drop_stale(struct oxd_conn *c, uint64_t instance)
{
	if (!instance)
		return;
	for (struct oxd_conn *o = srv_of(c)->net.conns; o; o = o->next)
		if (o != c && o->role == OXD_ROLE_AGENT && !o->closing && o->pid == c->pid &&
		    o->uid == c->uid && srv_of(c)->agg.procs[o->proc].instance == instance) {
			oxd_info("%s reconnected; dropping its old connection", o->label);
			oxd_conn_close(o);
			return;
		}
}

static void hello_agent(struct oxd_conn *c, const struct oxp_hello *h)
{
	struct oxd_server *s = srv_of(c);
	static struct oxd_procinfo pi; /* 8 KiB; the loop is single-threaded */
	struct oxd_ident id;
	char why[256];
	if (!oxd_access_agent(s->cfg, c->uid, c->gid, why, sizeof(why)))
		return oxd_conn_fail(c, -EPERM, "%s", why);
	drop_stale(c, h->instance);
	identify(c, h, &id, &pi);
	id.instance = h->instance;
	if (oxd_agg_proc_attach(&s->agg, &id, ox_wall_ms(), &c->proc) < 0)
		return oxd_conn_refuse_mem(c, "its process row",
					   sizeof(struct oxd_proc) + id.exe.len + id.cmdline.len);
	c->role = OXD_ROLE_AGENT;
	if (c->counted)
		oxd_budget_uid(&s->agg.bud, c->uid)->agents++;
	struct oxd_proc *p = &s->agg.procs[c->proc];
	if (!h->instance || p->instance != h->instance) {
		/* Another agent than the one whose batches this row counted. */
		p->instance = h->instance;
		p->seq_received = p->seq_durable = 0;
		s->agg.dirty++;
	}
	oxd_ingest_init(&c->ing, c->proc);
	c->want = s->fleet.state;
	c->want_seq = s->fleet.seq;
	snprintf(c->label, sizeof(c->label), "agent pid %d (%s%.*s)", (int)c->pid,
		 id.claimed ? "[claimed] " : "", (int)(id.exe.len > 60 ? 60 : id.exe.len),
		 id.exe.ptr);
	oxd_conn_timer(c, 0, 0); /* paused agents may be silent for days */
	welcome(c);
	oxd_info("agent joined: pid %d uid %u exe %s%.*s (%.*s)", (int)c->pid, (unsigned)c->uid,
		 id.claimed ? "[claimed] " : "", (int)(id.exe.len > 200 ? 200 : id.exe.len),
		 id.exe.ptr, (int)(h->software.len > 60 ? 60 : h->software.len), h->software.ptr);
}

static void hello(struct oxd_conn *c, const struct oxp_msg *m)
{
	if (m->type != OXP_MSG_HELLO)
		return oxd_conn_fail(c, -OXP_ESHAPE, "the first message must be HELLO, got type %u",
				     m->type);
	const struct oxp_hello *h = &m->u.hello;
	if (h->role == OXP_ROLE_AGENT)
		return hello_agent(c, h);
	if (h->role != OXP_ROLE_CONTROL)
		return oxd_conn_fail(c, -OXP_ESHAPE, "unknown role %u in HELLO", h->role);
	char why[256];
	if (!oxd_access_control(srv_of(c)->cfg, c->uid, c->gid, why, sizeof(why)))
		return oxd_conn_fail(c, -EPERM, "%s", why);
	c->role = OXD_ROLE_CONTROL;
	c->control_ok = 1;
	snprintf(c->label, sizeof(c->label), "client pid %d uid %u", (int)c->pid, (unsigned)c->uid);
	oxd_conn_timer(c, srv_of(c)->cfg->idle_ms, 1);
	welcome(c);
	oxd_debug("%s connected (%.*s)", c->label, (int)h->software.len, h->software.ptr);
}

/* ---- agents ---- */

static void agent_msg(struct oxd_conn *c, const struct oxp_msg *m)
{
	struct oxd_agg *a = &srv_of(c)->agg;
	if (m->type == OXP_MSG_AGENT_STATE) {
		oxd_agg_proc_stats(a, c->proc, &m->u.agent_state);
		oxd_debug("%s: state %u, ack %llu, %s", c->label, m->u.agent_state.state,
			  (unsigned long long)m->u.agent_state.ack_seq, a->procs[c->proc].source);
		return;
	}
	if (m->type != OXP_MSG_SAMPLES)
		return oxd_conn_fail(c, -OXP_ESHAPE, "message type %u is not for an agent to send",
				     m->type);
	struct oxd_proc *p = &a->procs[c->proc];
	if (p->instance && m->u.samples.seq <= p->seq_received)
		return oxd_conn_fail(c, -OXP_ESHAPE,
				     "SAMPLES batch %llu is not above %llu, received already",
				     (unsigned long long)m->u.samples.seq,
				     (unsigned long long)p->seq_received);
	/* When the samples were taken, in the agent's word: no earlier than
	 * the process started (a second's slack for the tick-grained start
	 * time); the store keeps them no later than now. */
	struct oxp_samples s = m->u.samples;
	uint64_t born = oxd_procinfo_start_wall_ms(c->start_time);
	if (born > PROC_START_SLACK_MS)
		born -= PROC_START_SLACK_MS;
	if (s.first_ms && s.first_ms < born)
		s.first_ms = born;
	if (s.last_ms && s.last_ms < born)
		s.last_ms = born;
	uint64_t acc, ref;
	int r = oxd_agg_ingest(a, &c->ing, &s, ox_wall_ms(), &acc, &ref);
	if (r == -ENOSPC)
		return oxd_conn_refuse_mem(c, "its string, frame and thread id maps", 0);
	if (r < 0)
		return oxd_conn_fail(c, r, "bad SAMPLES batch %llu: %s",
				     (unsigned long long)m->u.samples.seq,
				     r == -OXP_ESHAPE
					     ? "it uses a string, frame or thread id it never defined"
					     : oxp_strerror(r));
	if (ref && a->procs[c->proc].dropped_daemon == ref)
		oxd_warn("%s: memory budget reached; refusing samples of new stacks", c->label);
	p = &a->procs[c->proc]; /* ingest may have moved the rows */
	p->seq_received = m->u.samples.seq;
	a->dirty++;
	if (!srv_of(c)->cfg->state_dir[0])
		p->seq_durable = p->seq_received; /* nothing outlives us anyway */
	oxd_server_batch(srv_of(c));
	struct oxp_msg k = { .type = OXP_MSG_SAMPLES_ACK };
	k.u.samples_ack = (struct oxp_samples_ack){ m->u.samples.seq, acc, ref, p->seq_durable };
	c->durable_told = p->seq_durable;
	oxd_conn_send(c, &k);
}

/* ---- control ---- */

/* Produce query rows while the client keeps up; finish with REPLY.
 * 1 while rows are still to come. */
static int pump_query(struct oxd_conn *c)
{
	while (c->query && oxd_conn_queued(c) < OXD_STREAM_HIGH) {
		int r = oxd_query_next(c->query, &srv_of(c)->agg, &c->out);
		if (r == 1)
			continue;
		oxd_query_free(c->query);
		c->query = NULL;
		if (r == 0)
			oxd_conn_reply(c, 0, "ok", 0);
		else
			oxd_conn_reply(c, r, r == -ESTALE ? "the aggregate was reset during the query; "
					   "run it again" : oxp_strerror(r), 0);
	}
	oxd_conn_flush(c);
	return c->query != NULL;
}

static void cmd_query(struct oxd_conn *c, const struct oxp_command *cmd)
{
	int r = oxd_query_new(&srv_of(c)->agg, cmd, &c->query);
	if (r < 0)
		return oxd_conn_reply(c, r, r == -OXP_ENOMATCH ? "the selector matched no process"
							   : "bad query parameters", 0);
	struct oxp_msg m = { .type = OXP_MSG_QUERY_HEAD };
	oxd_query_head(c->query, &m.u.query_head);
	oxd_conn_send(c, &m);
	c->busy = 1;
}

static void command(struct oxd_conn *c, const struct oxp_command *cmd)
{
	struct oxd_server *s = srv_of(c);
	char msg[256] = "ok";
	uint32_t affected = 0, cut = 0;
	int r = 0;
	uv_timer_again(&c->timer);
	oxd_log(cmd->cmd == OXP_CMD_STATUS || cmd->cmd == OXP_CMD_QUERY ? OX_LOG_DEBUG
									: OX_LOG_INFO,
		"command %s from uid %u pid %d", oxd_fleet_cmd_name(cmd->cmd), (unsigned)c->uid,
		(int)c->pid);
	switch (cmd->cmd) {
	case OXP_CMD_STATUS:
		oxd_status_encode(&s->agg, &(struct oxd_status_daemon){ s->fleet.state,
			ox_wall_ms() - s->start_ms, s->net.refused_conns, ox_wall_ms(),
			s->cfg->exited_ttl_ms, &cmd->sel }, &c->out, &cut);
		if (cut)
			snprintf(msg, sizeof(msg), "%u exited process rows left out", cut);
		break;
	case OXP_CMD_QUERY:
		return cmd_query(c, cmd);
	case OXP_CMD_RESET:
		r = oxd_fleet_reset(&s->agg, cmd, &affected, msg, sizeof(msg));
		break;
	case OXP_CMD_START:
	case OXP_CMD_STOP:
	case OXP_CMD_PAUSE:
	case OXP_CMD_UNPAUSE:
		r = oxd_server_command(s, cmd, &affected, msg, sizeof(msg));
		break;
	default:
		r = -EINVAL;
		snprintf(msg, sizeof(msg), "unknown command %u", cmd->cmd);
	}
	oxd_conn_reply(c, r, msg, affected);
}

static void on_frame(struct oxd_conn *c, const uint8_t *f, size_t len)
{
	struct oxp_msg m;
	uint32_t ver = 0;
	if (!c->dec && oxp_decoder_new(&c->dec) < 0)
		abort(); /* out of memory */
	int r = oxp_decoder_decode(c->dec, f, len, &m, &ver);
	if (r == -OXP_EVERSION)
		return oxd_conn_fail(c, r, "protocol version mismatch: the peer speaks version %u, "
				     "oxprofd %s speaks version %d; use oxprof programs of the "
				     "same release",
				     ver, OXPROF_VERSION, OXP_PROTOCOL_VERSION);
	if (r < 0)
		return oxd_conn_fail(c, r, "bad message: %s", oxp_strerror(r));
	if (m.type == OXP_MSG_ERROR) {
		oxd_info("%s sent ERROR %d: %.*s", c->label, m.u.error.code,
			 (int)m.u.error.message.len, m.u.error.message.ptr);
		return oxd_conn_close(c);
	}
	if (c->role == OXD_ROLE_NEW)
		hello(c, &m);
	else if (c->role == OXD_ROLE_AGENT)
		agent_msg(c, &m);
	else if (m.type == OXP_MSG_COMMAND)
		command(c, &m.u.command);
	else
		oxd_conn_fail(c, -OXP_ESHAPE, "message type %u is not for a client to send", m.type);
}

/* ---- the connection's life ---- */

static void on_closing(struct oxd_conn *c)
{
	if (c->role != OXD_ROLE_AGENT)
		return;
	struct oxd_agg *a = &srv_of(c)->agg;
	struct oxd_proc *p = &a->procs[c->proc];
	oxd_info("agent left: %s, %llu samples, %llu refused", c->label,
		 (unsigned long long)p->samples, (unsigned long long)p->dropped_daemon);
	oxd_agg_proc_detach(a, c->proc, ox_wall_ms());
}

static void on_closed(struct oxd_conn *c)
{
	oxd_query_free(c->query);
	oxd_ingest_destroy(&srv_of(c)->agg, &c->ing);
}

const struct oxd_net_ops oxd_peer_ops = {
	.frame = on_frame,
	.pump = pump_query,
	.closing = on_closing,
	.closed = on_closed,
};
