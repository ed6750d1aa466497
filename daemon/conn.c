/*
 * conn.c - per-connection protocol handling.
 *
 * Input: libuv reads straight into the oxp_reader's space (which enforces
 * the frame cap from the 4 header bytes), then every whole frame is decoded
 * and handled before the next read.  Output: messages are encoded into
 * c->out and handed to libuv in one write per burst.  A control client
 * gets one command answered at a time: while a reply streams, reading
 * stops, and query rows are produced only as fast as the client reads.
 */
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "fleet.h"
#include "log.h"
#include "procinfo.h"
#include "query.h"
#include "server.h"
#include "status.h"
#include "xmalloc.h"

#define STREAM_HIGH (256u << 10) /* stop producing query rows above this */
#define CLOSE_GRACE_MS 2000      /* for a peer that does not read its ERROR */
/* What a connection costs beyond its buffers: the struct, libuv's state
 * and the kernel's socket, roughly; charged from accept to close. */
#define CONN_COST (sizeof(struct oxd_conn) + 2048)
#define READER_START 65536u      /* what oxp_reader_init allocates */

struct wreq {
	uv_write_t req;
	struct oxp_buf buf;
	uint64_t charged;
};

static void process(struct oxd_conn *c);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void flush(struct oxd_conn *c);
static void idle_input(struct oxd_conn *c, int frames);

/* ---- lifetime ---- */

static void on_closed(uv_handle_t *h)
{
	struct oxd_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct oxd_agg *a = &c->srv->agg;
	oxd_query_free(c->query);
	oxd_ingest_destroy(a, &c->ing);
	oxp_decoder_free(c->dec);
	oxp_reader_destroy(&c->rd);
	oxp_buf_destroy(&c->out);
	oxd_agg_peer_release(a, c->uid, c->mem_conn + c->mem_rd + c->mem_out);
	free(c);
}

static void close_now(struct oxd_conn *c)
{
	if (uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	oxd_conn_close(c); /* may come back here through flush */
	if (uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	uv_close((uv_handle_t *)&c->pipe, on_closed);
	uv_close((uv_handle_t *)&c->timer, on_closed);
}

static void on_grace(uv_timer_t *t)
{
	close_now(t->data);
}

void oxd_conn_close(struct oxd_conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_read_stop((uv_stream_t *)&c->pipe);
	if (c->role == OXD_ROLE_AGENT) {
		struct oxd_proc *p = &c->srv->agg.procs[c->proc];
		oxd_info("agent left: %s, %llu samples, %llu refused", c->label,
			 (unsigned long long)p->samples, (unsigned long long)p->dropped_daemon);
		oxd_agg_proc_detach(&c->srv->agg, c->proc);
	}
	oxd_server_remove(c->srv, c);
	if (c->counted) { /* the slot is free again; the memory goes in on_closed */
		struct oxd_uacct *u = oxd_budget_uid(&c->srv->agg.bud, c->uid);
		u->conns--;
		u->agents -= c->role == OXD_ROLE_AGENT;
		c->counted = 0;
	}
	flush(c);
	/* What was queued goes out first; a peer that does not read gets
	 * CLOSE_GRACE_MS. */
	if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) == 0 && !c->out.len)
		close_now(c);
	else
		uv_timer_start(&c->timer, on_grace, CLOSE_GRACE_MS, 0);
}

/* ---- output ---- */

static void on_write(uv_write_t *req, int status)
{
	struct wreq *w = (struct wreq *)req;
	struct oxd_conn *c = req->handle->data;
	oxd_agg_peer_release(&c->srv->agg, c->uid, w->charged);
	c->mem_out -= w->charged;
	oxp_buf_destroy(&w->buf);
	free(w);
	if (uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	if (status < 0 && c->role == OXD_ROLE_AGENT && !c->closing) {
		/* The agent is gone or going, but what it sent before is still
		 * queued for us: read it all (until EOF) before its row says
		 * exited; just stop writing. */
		c->write_dead = 1;
		return;
	}
	if (status < 0) {
		close_now(c);
		return;
	}
	if (c->closing) {
		if (uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) == 0)
			close_now(c);
		return;
	}
	if (c->busy) {
		uv_timer_again(&c->timer); /* the client reads: not idle */
		process(c);
	}
}

/* Control clients allowed in are never refused memory: their replies are
 * short-lived, and control must work when peers have taken the rest. */
static int exempt(const struct oxd_conn *c)
{
	return (c->control_ok && c->role != OXD_ROLE_AGENT) || c->failing;
}

/* Charge n bytes held for c: 0 or -ENOSPC (counted). */
static int charge(struct oxd_conn *c, uint64_t n)
{
	if (exempt(c)) {
		oxd_agg_peer_force(&c->srv->agg, c->uid, n);
		return 0;
	}
	return oxd_agg_peer_charge(&c->srv->agg, c->uid, n);
}

static void flush(struct oxd_conn *c)
{
	if (c->write_dead)
		oxp_buf_reset(&c->out);
	if (!c->out.len || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	uint64_t cost = sizeof(struct wreq) + c->out.cap;
	if (charge(c, cost) < 0) {
		/* Replies to an agent whose uid is over its budget: drop it (its
		 * batches are then not acknowledged, so it keeps them). */
		oxp_buf_reset(&c->out);
		oxd_debug("%s: memory budget reached for what it is sent; dropping it", c->label);
		c->srv->refused_conns++;
		oxd_budget_uid(&c->srv->agg.bud, c->uid)->refused_conns++;
		return close_now(c);
	}
	c->mem_out += cost;
	struct wreq *w = oxd_xmalloc(sizeof(*w));
	w->buf = c->out;
	w->charged = cost;
	oxp_buf_init(&c->out);
	uv_buf_t b = uv_buf_init((char *)w->buf.data, (unsigned)w->buf.len);
	int r = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_write);
	if (r < 0) {
		oxd_agg_peer_release(&c->srv->agg, c->uid, cost);
		c->mem_out -= cost;
		oxp_buf_destroy(&w->buf);
		free(w);
		close_now(c);
		return;
	}
	size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
	if (q > c->srv->cfg->write_queue_max) {
		oxd_warn("%s does not read what it is sent (%zu bytes queued); dropping it",
			 c->label, q);
		c->srv->refused_conns++;
		if (c->creds)
			oxd_budget_uid(&c->srv->agg.bud, c->uid)->refused_conns++;
		close_now(c);
	}
}

static void send_msg(struct oxd_conn *c, const struct oxp_msg *m)
{
	int r = oxp_encode(&c->out, m);
	if (r == -ENOMEM)
		abort();
	if (r < 0)
		oxd_err("%s: cannot encode message type %u: %s", c->label, m->type,
			oxp_strerror(r));
}

static void send_reply(struct oxd_conn *c, int code, const char *msg, uint32_t affected)
{
	struct oxp_msg m = { .type = OXP_MSG_REPLY };
	m.u.reply = (struct oxp_reply){ code, oxp_str_c(msg), affected };
	send_msg(c, &m);
}

/* Send ERROR and close: for bad input, refused access, limits. */
static void fail(struct oxd_conn *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct oxd_conn *c, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Refusals a flood repeats are logged once in a while only. */
	uint64_t n = ++c->srv->refused_conns;
	if ((code != -EBUSY && code != -ENOSPC) || n < 10 || n % 1000 == 0)
		oxd_warn("%s: %s; disconnecting it (refused so far: %llu)", c->label, msg,
			 (unsigned long long)n);
	if (c->creds)
		oxd_budget_uid(&c->srv->agg.bud, c->uid)->refused_conns++;
	struct oxp_msg m = { .type = OXP_MSG_ERROR };
	m.u.error = (struct oxp_error_msg){ code, oxp_str_c(msg) };
	send_msg(c, &m);
	c->failing = 1;
	flush(c);
	oxd_conn_close(c);
}

/* Over a memory budget: say which, and close. */
static void refuse_mem(struct oxd_conn *c, const char *what, uint64_t n)
{
	const struct oxd_agg *a = &c->srv->agg;
	struct oxd_uacct *u = oxd_budget_uid(&c->srv->agg.bud, c->uid);
	fail(c, -ENOSPC, "memory budget reached: %llu more bytes for %s refused; uid %u holds "
	     "%llu of %llu (--uid-mem-budget), oxprofd %llu of %llu (--mem-budget)",
	     (unsigned long long)n, what, (unsigned)c->uid,
	     (unsigned long long)oxd_uacct_mem(u), (unsigned long long)a->bud.uid_limit,
	     (unsigned long long)oxd_agg_mem_total(a), (unsigned long long)a->mem_budget);
}

void oxd_conn_set_state(struct oxd_conn *c, const struct oxp_fleet *f, uint64_t seq, int reset)
{
	c->want = *f;
	c->want_seq = seq;
	struct oxp_msg m = { .type = OXP_MSG_SET_STATE };
	m.u.set_state = (struct oxp_set_state){ *f, seq, (uint8_t)reset };
	send_msg(c, &m);
	flush(c);
}

void oxd_conn_bye(struct oxd_conn *c, const char *reason)
{
	if (c->closing)
		return;
	if (c->role != OXD_ROLE_NEW) {
		struct oxp_msg m = { .type = OXP_MSG_BYE };
		m.u.bye.reason = oxp_str_c(reason);
		send_msg(c, &m);
		flush(c);
	}
	oxd_conn_close(c);
}

/* ---- handshake ---- */

static void on_timeout(uv_timer_t *t)
{
	struct oxd_conn *c = t->data;
	if (c->role == OXD_ROLE_NEW)
		fail(c, -ETIMEDOUT, "no HELLO within %.1f s (--handshake-timeout)",
		     c->srv->cfg->handshake_ms / 1000.0);
	else if (c->role == OXD_ROLE_AGENT)
		fail(c, -ETIMEDOUT, "a message it started is not whole after %.1f s "
		     "(--frame-timeout)", c->srv->cfg->frame_ms / 1000.0);
	else
		fail(c, -ETIMEDOUT, "idle or not reading for %.1f s (--idle-timeout)",
		     c->srv->cfg->idle_ms / 1000.0);
}

static void welcome(struct oxd_conn *c)
{
	struct oxp_msg m = { .type = OXP_MSG_WELCOME };
	uint64_t durable = 0, received = 0;
	if (c->role == OXD_ROLE_AGENT) {
		durable = c->durable_told = c->srv->agg.procs[c->proc].seq_durable;
		received = c->srv->agg.procs[c->proc].seq_received;
	}
	m.u.welcome = (struct oxp_welcome){ oxp_str_c("oxprofd " OXPROF_VERSION),
					    c->srv->fleet.state, c->srv->fleet.seq,
					    c->srv->cfg->flush_ms, durable, received };
	send_msg(c, &m);
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
	*id = (struct oxd_ident){ .pid = c->pid, .uid = c->uid };
	int r = oxd_procinfo_read(c->pid, c->uid, c->start_time, pi);
	for (size_t i = 0; i < c->srv->cfg->ntrust_uids; i++)
		if (c->srv->cfg->trust_uids[i] == c->uid) { /* --trust-claims */
			id->start_time = r == 0 ? pi->start : 0;
			id->exe = cut(h->exe, OXD_EXE_MAX);
			id->cmdline = cut(h->cmdline, OXD_CMDLINE_MAX);
			return;
		}
	if (r == 0) {
		id->start_time = pi->start;
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

void oxd_conn_durable(struct oxd_conn *c)
{
	if (c->role != OXD_ROLE_AGENT || c->closing)
		return;
	uint64_t seq = c->srv->agg.procs[c->proc].seq_durable;
	if (seq <= c->durable_told)
		return;
	c->durable_told = seq;
	struct oxp_msg m = { .type = OXP_MSG_DURABLE };
	m.u.durable.seq = seq;
	send_msg(c, &m);
	flush(c);
}

/* A new connection of an agent instance whose old connection we still
 * hold (its end broke first): the old one goes, unread input and all, so
 * what WELCOME says was received is final and the row is taken over. */
static void drop_stale(struct oxd_conn *c, uint64_t instance)
{
	if (!instance)
		return;
	for (struct oxd_conn *o = c->srv->conns; o; o = o->next)
		if (o != c && o->role == OXD_ROLE_AGENT && !o->closing && o->pid == c->pid &&
		    o->uid == c->uid && c->srv->agg.procs[o->proc].instance == instance) {
			oxd_info("%s reconnected; dropping its old connection", o->label);
			oxd_conn_close(o);
			return;
		}
}

static void hello_agent(struct oxd_conn *c, const struct oxp_hello *h)
{
	struct oxd_server *s = c->srv;
	static struct oxd_procinfo pi; /* 8 KiB; the loop is single-threaded */
	struct oxd_ident id;
	char why[256];
	if (!oxd_access_agent(s->cfg, c->uid, c->gid, why, sizeof(why)))
		return fail(c, -EPERM, "%s", why);
	drop_stale(c, h->instance);
	identify(c, h, &id, &pi);
	id.instance = h->instance;
	if (oxd_agg_proc_attach(&s->agg, &id, oxd_now_ms(), &c->proc) < 0)
		return refuse_mem(c, "its process row", sizeof(struct oxd_proc) + id.exe.len +
				  id.cmdline.len);
	c->role = OXD_ROLE_AGENT;
	if (c->counted)
		oxd_budget_uid(&s->agg.bud, c->uid)->agents++;
	struct oxd_proc *p = &s->agg.procs[c->proc];
	if (!h->instance || p->instance != h->instance) {
		/* Another agent than the one whose batches this row counted. */
		p->instance = h->instance;
		p->seq_received = p->seq_durable = 0;
	}
	oxd_ingest_init(&c->ing, c->proc);
	c->want = s->fleet.state;
	c->want_seq = s->fleet.seq;
	snprintf(c->label, sizeof(c->label), "agent pid %d (%s%.*s)", (int)c->pid,
		 id.claimed ? "[claimed] " : "", (int)(id.exe.len > 60 ? 60 : id.exe.len),
		 id.exe.ptr);
	uv_timer_stop(&c->timer); /* paused agents may be silent for days */
	welcome(c);
	oxd_info("agent joined: pid %d uid %u exe %s%.*s (%.*s)", (int)c->pid, (unsigned)c->uid,
		 id.claimed ? "[claimed] " : "", (int)(id.exe.len > 200 ? 200 : id.exe.len),
		 id.exe.ptr, (int)(h->software.len > 60 ? 60 : h->software.len), h->software.ptr);
}

static void hello(struct oxd_conn *c, const struct oxp_msg *m)
{
	if (m->type != OXP_MSG_HELLO)
		return fail(c, -OXP_ESHAPE, "the first message must be HELLO, got type %u", m->type);
	const struct oxp_hello *h = &m->u.hello;
	if (h->role == OXP_ROLE_AGENT)
		return hello_agent(c, h);
	if (h->role != OXP_ROLE_CONTROL)
		return fail(c, -OXP_ESHAPE, "unknown role %u in HELLO", h->role);
	char why[256];
	if (!oxd_access_control(c->srv->cfg, c->uid, c->gid, why, sizeof(why)))
		return fail(c, -EPERM, "%s", why);
	c->role = OXD_ROLE_CONTROL;
	c->control_ok = 1;
	snprintf(c->label, sizeof(c->label), "client pid %d uid %u", (int)c->pid, (unsigned)c->uid);
	uv_timer_start(&c->timer, on_timeout, c->srv->cfg->idle_ms, c->srv->cfg->idle_ms);
	welcome(c);
	oxd_debug("%s connected (%.*s)", c->label, (int)h->software.len, h->software.ptr);
}

/* ---- agents ---- */

static void agent_msg(struct oxd_conn *c, const struct oxp_msg *m)
{
	struct oxd_agg *a = &c->srv->agg;
	if (m->type == OXP_MSG_AGENT_STATE) {
		oxd_agg_proc_stats(a, c->proc, &m->u.agent_state);
		oxd_debug("%s: state %u, ack %llu, %s", c->label, m->u.agent_state.state,
			  (unsigned long long)m->u.agent_state.ack_seq, a->procs[c->proc].source);
		return;
	}
	if (m->type != OXP_MSG_SAMPLES)
		return fail(c, -OXP_ESHAPE, "message type %u is not for an agent to send", m->type);
	struct oxd_proc *p = &a->procs[c->proc];
	if (p->instance && m->u.samples.seq <= p->seq_received)
		return fail(c, -OXP_ESHAPE, "SAMPLES batch %llu is not above %llu, received already",
			    (unsigned long long)m->u.samples.seq,
			    (unsigned long long)p->seq_received);
	uint64_t acc, ref;
	int r = oxd_agg_ingest(a, &c->ing, &m->u.samples, oxd_now_ms(), &acc, &ref);
	if (r == -ENOSPC)
		return refuse_mem(c, "its string, frame and thread id maps", 0);
	if (r < 0)
		return fail(c, r, "bad SAMPLES batch %llu: %s",
			    (unsigned long long)m->u.samples.seq,
			    r == -OXP_ESHAPE ? "it uses a string, frame or thread id it never defined"
					     : oxp_strerror(r));
	if (ref && a->procs[c->proc].dropped_daemon == ref)
		oxd_warn("%s: memory budget reached; refusing samples of new stacks", c->label);
	p = &a->procs[c->proc]; /* ingest may have moved the rows */
	p->seq_received = m->u.samples.seq;
	if (!c->srv->cfg->state_dir[0])
		p->seq_durable = p->seq_received; /* nothing outlives us anyway */
	oxd_server_batch(c->srv);
	struct oxp_msg k = { .type = OXP_MSG_SAMPLES_ACK };
	k.u.samples_ack = (struct oxp_samples_ack){ m->u.samples.seq, acc, ref, p->seq_durable };
	c->durable_told = p->seq_durable;
	send_msg(c, &k);
}

/* ---- control ---- */

/* Produce query rows while the client keeps up; finish with REPLY. */
static void pump_query(struct oxd_conn *c)
{
	while (c->query &&
	       uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) + c->out.len < STREAM_HIGH) {
		int r = oxd_query_next(c->query, &c->srv->agg, &c->out);
		if (r == 1)
			continue;
		oxd_query_free(c->query);
		c->query = NULL;
		if (r == 0)
			send_reply(c, 0, "ok", 0);
		else
			send_reply(c, r, r == -ESTALE ? "the aggregate was reset during the query; "
					   "run it again" : oxp_strerror(r), 0);
	}
	flush(c);
}

static void cmd_query(struct oxd_conn *c, const struct oxp_command *cmd)
{
	int r = oxd_query_new(&c->srv->agg, cmd, &c->query);
	if (r < 0)
		return send_reply(c, r, r == -OXP_ENOMATCH ? "the selector matched no process"
							   : "bad query parameters", 0);
	struct oxp_msg m = { .type = OXP_MSG_QUERY_HEAD };
	oxd_query_head(c->query, &m.u.query_head);
	send_msg(c, &m);
	c->busy = 1;
}

static void command(struct oxd_conn *c, const struct oxp_command *cmd)
{
	char msg[256] = "ok";
	uint32_t affected = 0, cut = 0;
	int r = 0;
	uv_timer_again(&c->timer);
	oxd_log(cmd->cmd == OXP_CMD_STATUS || cmd->cmd == OXP_CMD_QUERY ? OXD_LOG_DEBUG
									: OXD_LOG_INFO,
		"command %s from uid %u pid %d", oxd_fleet_cmd_name(cmd->cmd), (unsigned)c->uid,
		(int)c->pid);
	switch (cmd->cmd) {
	case OXP_CMD_STATUS:
		oxd_status_encode(c->srv, &c->out, &cut);
		if (cut)
			snprintf(msg, sizeof(msg), "%u exited process rows left out", cut);
		break;
	case OXP_CMD_QUERY:
		return cmd_query(c, cmd);
	case OXP_CMD_RESET:
		r = oxd_fleet_reset(c->srv, cmd, &affected, msg, sizeof(msg));
		break;
	case OXP_CMD_START:
	case OXP_CMD_STOP:
	case OXP_CMD_PAUSE:
	case OXP_CMD_UNPAUSE:
		r = oxd_fleet_command(c->srv, cmd, &affected, msg, sizeof(msg));
		break;
	default:
		r = -EINVAL;
		snprintf(msg, sizeof(msg), "unknown command %u", cmd->cmd);
	}
	send_reply(c, r, msg, affected);
}

/* ---- input ---- */

static void handle(struct oxd_conn *c, const uint8_t *f, size_t len)
{
	struct oxp_msg m;
	uint32_t ver = 0;
	if (!c->dec && oxp_decoder_new(&c->dec) < 0)
		abort(); /* out of memory */
	int r = oxp_decoder_decode(c->dec, f, len, &m, &ver);
	if (r == -OXP_EVERSION)
		return fail(c, r, "protocol version mismatch: the peer speaks version %u, oxprofd %s "
			    "speaks version %d; use oxprof programs of the same release",
			    ver, OXPROF_VERSION, OXP_PROTOCOL_VERSION);
	if (r < 0)
		return fail(c, r, "bad message: %s", oxp_strerror(r));
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
		fail(c, -OXP_ESHAPE, "message type %u is not for a client to send", m.type);
}

/* Handle whole frames until input runs out or a reply must stream first. */
static void process(struct oxd_conn *c)
{
	if (c->busy) {
		pump_query(c);
		if (c->query || uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) >= STREAM_HIGH)
			return;
		c->busy = 0;
	}
	int frames = 0;
	while (!c->closing && !c->busy && c->rd.buf) {
		const uint8_t *f;
		size_t len;
		int r = oxp_reader_next(&c->rd, &f, &len);
		if (r == 0)
			break;
		if (r < 0)
			return fail(c, r, "bad frame: %s", oxp_strerror(r));
		frames++;
		handle(c, f, len);
		if (c->busy)
			pump_query(c);
	}
	flush(c);
	if (c->closing)
		return;
	idle_input(c, frames);
	if (c->busy)
		uv_read_stop((uv_stream_t *)&c->pipe);
	else
		uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read); /* EALREADY is fine */
}

/*
 * Make the reader and charge what it is about to hold: its first buffer,
 * or the whole frame whose header has arrived.  0, or -ENOSPC (nothing
 * allocated beyond what was charged).
 */
static int reader_reserve(struct oxd_conn *c)
{
	struct oxp_reader *rd = &c->rd;
	uint64_t need = rd->buf ? rd->cap : READER_START;
	if (rd->buf && rd->len - rd->off >= OXP_FRAME_HDR) {
		const uint8_t *h = rd->buf + rd->off;
		uint32_t flen = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
		if (flen <= rd->frame_max && OXP_FRAME_HDR + (uint64_t)flen > need)
			need = OXP_FRAME_HDR + (uint64_t)flen;
	}
	if (need > c->mem_rd) {
		if (charge(c, need - c->mem_rd) < 0) {
			c->rd_refused = need - c->mem_rd;
			return -ENOSPC;
		}
		c->mem_rd = need;
	}
	if (!rd->buf && oxp_reader_init(rd, 0) < 0)
		abort(); /* out of memory */
	return 0;
}

/* Between bursts a connection holds no input buffers: a silent agent
 * costs its struct only.  An agent's partial frame must be completed
 * within --frame-timeout, counted from the last whole frame. */
static void idle_input(struct oxd_conn *c, int frames)
{
	size_t pending = c->rd.buf ? oxp_reader_pending(&c->rd) : 0;
	if (!pending && c->rd.buf) {
		oxp_reader_destroy(&c->rd);
		oxd_agg_peer_release(&c->srv->agg, c->uid, c->mem_rd);
		c->mem_rd = 0;
	}
	if (c->dec && !c->busy) {
		oxp_decoder_free(c->dec);
		c->dec = NULL;
	}
	if (c->role != OXD_ROLE_AGENT)
		return;
	if (!pending)
		uv_timer_stop(&c->timer);
	else if (frames || !uv_is_active((uv_handle_t *)&c->timer))
		uv_timer_start(&c->timer, on_timeout, c->srv->cfg->frame_ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct oxd_conn *c = h->data;
	uint8_t *p;
	size_t len;
	(void)hint;
	*buf = uv_buf_init(NULL, 0); /* on failure read_cb gets UV_ENOBUFS */
	if (reader_reserve(c) < 0)
		return;
	if (oxp_reader_space(&c->rd, &p, &len) < 0)
		return;
	if (c->rd.cap > c->mem_rd) { /* not expected: the reserve covers it */
		oxd_agg_peer_force(&c->srv->agg, c->uid, c->rd.cap - c->mem_rd);
		c->mem_rd = c->rd.cap;
	}
	*buf = uv_buf_init((char *)p, (unsigned)(len > UINT32_MAX ? UINT32_MAX : len));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct oxd_conn *c = st->data;
	if (c->closing)
		return;
	if (nread > 0) {
		int r = oxp_reader_commit(&c->rd, (size_t)nread);
		if (r < 0)
			return fail(c, r, "bad frame: %s (cap %u bytes)", oxp_strerror(r),
				    (unsigned)c->rd.frame_max);
		return process(c);
	}
	if (nread == 0)
		return;
	if (nread == UV_ENOBUFS && c->rd_refused)
		return refuse_mem(c, "a message it is sending", c->rd_refused);
	if (nread == UV_ENOBUFS)
		return fail(c, c->rd.err ? c->rd.err : -ENOMEM, "bad frame: %s",
			    oxp_strerror(c->rd.err ? c->rd.err : -ENOMEM));
	/* EOF or a reset: every whole frame has been handled already, so an
	 * agent's samples are all counted before its row says exited. */
	if (nread != UV_EOF)
		oxd_debug("%s: read: %s", c->label, uv_strerror((int)nread));
	oxd_conn_close(c);
}

/* ---- accept ---- */

/* Over --max-connections: accept, say why, close. */
static void on_refused_closed(uv_handle_t *h)
{
	free(h);
}

static void refuse(struct oxd_server *s, uv_pipe_t *p)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "oxprofd holds its maximum of %u connections "
		 "(--max-connections, --control-reserve); try again later",
		 s->cfg->max_conns + s->cfg->control_reserve);
	struct oxp_buf b;
	oxp_buf_init(&b);
	struct oxp_msg m = { .type = OXP_MSG_ERROR };
	m.u.error = (struct oxp_error_msg){ -EBUSY, oxp_str_c(msg) };
	if (oxp_encode(&b, &m) == 0) {
		uv_buf_t ub = uv_buf_init((char *)b.data, (unsigned)b.len);
		uv_try_write((uv_stream_t *)p, &ub, 1);
	}
	oxp_buf_destroy(&b);
	s->refused_conns++;
	if (s->refused_conns == 1 || s->refused_conns % 1000 == 0)
		oxd_warn("%s (refused so far: %llu)", msg, (unsigned long long)s->refused_conns);
	uv_close((uv_handle_t *)p, on_refused_closed);
}

static struct oxd_conn *conn_new(struct oxd_server *s)
{
	struct oxd_conn *c = oxd_xcalloc(1, sizeof(*c));
	c->srv = s;
	oxp_buf_init(&c->out);
	uv_pipe_init(s->loop, &c->pipe, 0);
	uv_timer_init(s->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->open_handles = 2;
	snprintf(c->label, sizeof(c->label), "new connection");
	return c;
}

/*
 * Whether this peer may hold one more connection: users allowed to control
 * always may (up to the reserve past --max-connections); anyone else within
 * --max-connections, their uid's --uid-max-connections and memory budget.
 * 0, or fails the connection.
 */
static int admit(struct oxd_conn *c)
{
	struct oxd_server *s = c->srv;
	const struct oxd_config *cfg = s->cfg;
	char why[256];
	struct oxd_uacct *u = oxd_budget_uid(&s->agg.bud, c->uid);
	/* The group database is asked only when a cap is in the way: a flood
	 * of connections must not become a flood of NSS lookups. */
	c->control_ok = c->uid == 0 || c->uid == geteuid();
	if (!c->control_ok && (s->nconns > cfg->max_conns || u->conns >= cfg->uid_max_conns))
		c->control_ok = oxd_access_control(cfg, c->uid, c->gid, why, sizeof(why));
	if (!c->control_ok && s->nconns > cfg->max_conns) {
		fail(c, -EBUSY, "oxprofd holds its maximum of %u connections (--max-connections); "
		     "try again later", cfg->max_conns);
		return -EBUSY;
	}
	if (!c->control_ok && u->conns >= cfg->uid_max_conns) {
		fail(c, -EBUSY, "uid %u holds its maximum of %u connections "
		     "(--uid-max-connections); try again later", (unsigned)c->uid,
		     cfg->uid_max_conns);
		return -EBUSY;
	}
	if (charge(c, CONN_COST) < 0) {
		refuse_mem(c, "a connection", CONN_COST);
		return -ENOSPC;
	}
	c->mem_conn = CONN_COST;
	u->conns++;
	c->counted = 1;
	return 0;
}

void oxd_conn_accept(struct oxd_server *s)
{
	if (s->nconns >= s->cfg->max_conns + s->cfg->control_reserve) {
		uv_pipe_t *p = oxd_xmalloc(sizeof(*p));
		uv_pipe_init(s->loop, p, 0);
		if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)p) == 0)
			refuse(s, p);
		else
			uv_close((uv_handle_t *)p, on_refused_closed);
		return;
	}
	struct oxd_conn *c = conn_new(s);
	uv_os_fd_t fd;
	int r = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->pipe);
	if (r == 0)
		r = uv_fileno((uv_handle_t *)&c->pipe, &fd);
	if (r == 0)
		r = oxd_access_peer(fd, &c->pid, &c->uid, &c->gid);
	oxd_server_add(s, c);
	if (r < 0) {
		oxd_warn("accept: %s", r < -1000 ? uv_strerror(r) : strerror(-r));
		return oxd_conn_close(c);
	}
	c->creds = 1;
	snprintf(c->label, sizeof(c->label), "peer pid %d uid %u", (int)c->pid, (unsigned)c->uid);
	if (admit(c) < 0)
		return;
	/* The start time now, so HELLO can tell whether the pid still names
	 * the process that connected. */
	if (oxd_procinfo_start(c->pid, &c->start_time) < 0)
		c->start_time = 0;
	uv_timer_start(&c->timer, on_timeout, s->cfg->handshake_ms, 0);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}
