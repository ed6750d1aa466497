/*
 * conn.c - one peer's bytes.
 *
 * Input: libuv reads straight into the oxp_reader's space (which enforces
 * the frame cap from the 4 header bytes), then every whole frame is handed
 * up (ops->frame) before the next read.  Output: messages are encoded into
 * c->out and handed to libuv in one write per burst.  A control client
 * gets one command answered at a time: while a reply streams (c->busy),
 * reading stops, and the layer above produces rows (ops->pump) only as
 * fast as the client reads.
 */
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "ox/xalloc.h"

#define CLOSE_GRACE_MS 2000      /* for a peer that does not read its ERROR */
#define READER_START 65536u      /* what oxp_reader_init allocates */

struct wreq {
	uv_write_t req;
	struct oxp_buf buf;
	uint64_t charged;
};

static void process(struct oxd_conn *c);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void idle_input(struct oxd_conn *c, int frames);
static void on_timeout(uv_timer_t *t);

/* ---- the list ---- */

static void link_conn(struct oxd_net *n, struct oxd_conn *c)
{
	c->next = n->conns;
	if (n->conns)
		n->conns->prev = c;
	n->conns = c;
	n->nconns++;
}

static void unlink_conn(struct oxd_net *n, struct oxd_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (n->conns == c)
		n->conns = c->next;
	else
		return; /* not in the list */
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	n->nconns--;
}

/* ---- lifetime ---- */

static void on_closed(uv_handle_t *h)
{
	struct oxd_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct oxd_agg *a = c->net->agg;
	c->net->ops->closed(c);
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
	c->net->ops->closing(c);
	unlink_conn(c->net, c);
	if (c->counted) { /* the slot is free again; the memory goes in on_closed */
		struct oxd_uacct *u = oxd_budget_uid(&c->net->agg->bud, c->uid);
		u->conns--;
		u->agents -= c->role == OXD_ROLE_AGENT;
		c->counted = 0;
	}
	oxd_conn_flush(c);
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
	oxd_agg_peer_release(c->net->agg, c->uid, w->charged);
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

int oxd_conn_charge(struct oxd_conn *c, uint64_t n)
{
	if (exempt(c)) {
		oxd_agg_peer_force(c->net->agg, c->uid, n);
		return 0;
	}
	return oxd_agg_peer_charge(c->net->agg, c->uid, n);
}

void oxd_conn_flush(struct oxd_conn *c)
{
	if (c->write_dead)
		oxp_buf_reset(&c->out);
	if (!c->out.len || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	uint64_t cost = sizeof(struct wreq) + c->out.cap;
	if (oxd_conn_charge(c, cost) < 0) {
		/* Replies to an agent whose uid is over its budget: drop it (its
		 * batches are then not acknowledged, so it keeps them). */
		oxp_buf_reset(&c->out);
		oxd_debug("%s: memory budget reached for what it is sent; dropping it", c->label);
		c->net->refused_conns++;
		oxd_budget_uid(&c->net->agg->bud, c->uid)->refused_conns++;
		return close_now(c);
	}
	c->mem_out += cost;
	struct wreq *w = ox_xmalloc(sizeof(*w));
	w->buf = c->out;
	w->charged = cost;
	oxp_buf_init(&c->out);
	uv_buf_t b = uv_buf_init((char *)w->buf.data, (unsigned)w->buf.len);
	int r = uv_write(&w->req, (uv_stream_t *)&c->pipe, &b, 1, on_write);
	if (r < 0) {
		oxd_agg_peer_release(c->net->agg, c->uid, cost);
		c->mem_out -= cost;
		oxp_buf_destroy(&w->buf);
		free(w);
		close_now(c);
		return;
	}
	size_t q = uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe);
	if (q > c->net->cfg->write_queue_max) {
		oxd_warn("%s does not read what it is sent (%zu bytes queued); dropping it",
			 c->label, q);
		c->net->refused_conns++;
		if (c->creds)
			oxd_budget_uid(&c->net->agg->bud, c->uid)->refused_conns++;
		close_now(c);
	}
}

void oxd_conn_send(struct oxd_conn *c, const struct oxp_msg *m)
{
	int r = oxp_encode(&c->out, m);
	if (r == -ENOMEM)
		abort();
	if (r < 0)
		oxd_err("%s: cannot encode message type %u: %s", c->label, m->type,
			oxp_strerror(r));
}

void oxd_conn_reply(struct oxd_conn *c, int code, const char *msg, uint32_t affected)
{
	struct oxp_msg m = { .type = OXP_MSG_REPLY };
	m.u.reply = (struct oxp_reply){ code, oxp_str_c(msg), affected };
	oxd_conn_send(c, &m);
}

void oxd_conn_fail(struct oxd_conn *c, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Refusals a flood repeats are logged once in a while only. */
	uint64_t n = ++c->net->refused_conns;
	if ((code != -EBUSY && code != -ENOSPC) || n < 10 || n % 1000 == 0)
		oxd_warn("%s: %s; disconnecting it (refused so far: %llu)", c->label, msg,
			 (unsigned long long)n);
	if (c->creds)
		oxd_budget_uid(&c->net->agg->bud, c->uid)->refused_conns++;
	struct oxp_msg m = { .type = OXP_MSG_ERROR };
	m.u.error = (struct oxp_error_msg){ code, oxp_str_c(msg) };
	oxd_conn_send(c, &m);
	c->failing = 1;
	oxd_conn_flush(c);
	oxd_conn_close(c);
}

void oxd_conn_refuse_mem(struct oxd_conn *c, const char *what, uint64_t n)
{
	const struct oxd_agg *a = c->net->agg;
	struct oxd_uacct *u = oxd_budget_uid(&c->net->agg->bud, c->uid);
	oxd_conn_fail(c, -ENOSPC,
		      "memory budget reached: %llu more bytes for %s refused; uid %u holds "
		      "%llu of %llu (--uid-mem-budget), oxprofd %llu of %llu (--mem-budget)",
		      (unsigned long long)n, what, (unsigned)c->uid,
		      (unsigned long long)oxd_uacct_mem(u), (unsigned long long)a->bud.uid_limit,
		      (unsigned long long)oxd_agg_mem_total(a), (unsigned long long)a->mem_budget);
}

void oxd_conn_bye(struct oxd_conn *c, const char *reason)
{
	if (c->closing)
		return;
	if (c->role != OXD_ROLE_NEW) {
		struct oxp_msg m = { .type = OXP_MSG_BYE };
		m.u.bye.reason = oxp_str_c(reason);
		oxd_conn_send(c, &m);
		oxd_conn_flush(c);
	}
	oxd_conn_close(c);
}

static void on_timeout(uv_timer_t *t)
{
	struct oxd_conn *c = t->data;
	if (c->role == OXD_ROLE_NEW)
		oxd_conn_fail(c, -ETIMEDOUT, "no HELLO within %.1f s (--handshake-timeout)",
			      c->net->cfg->handshake_ms / 1000.0);
	else if (c->role == OXD_ROLE_AGENT)
		oxd_conn_fail(c, -ETIMEDOUT, "a message it started is not whole after %.1f s "
			      "(--frame-timeout)", c->net->cfg->frame_ms / 1000.0);
	else
		oxd_conn_fail(c, -ETIMEDOUT, "idle or not reading for %.1f s (--idle-timeout)",
			      c->net->cfg->idle_ms / 1000.0);
}

/* Handle whole frames until input runs out or a reply must stream first. */
static void process(struct oxd_conn *c)
{
	if (c->busy) {
		if (c->net->ops->pump(c) ||
		    uv_stream_get_write_queue_size((uv_stream_t *)&c->pipe) >= OXD_STREAM_HIGH)
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
			return oxd_conn_fail(c, r, "bad frame: %s", oxp_strerror(r));
		frames++;
		c->net->ops->frame(c, f, len);
		if (c->busy)
			c->net->ops->pump(c);
	}
	oxd_conn_flush(c);
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
		if (oxd_conn_charge(c, need - c->mem_rd) < 0) {
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
		oxd_agg_peer_release(c->net->agg, c->uid, c->mem_rd);
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
		uv_timer_start(&c->timer, on_timeout, c->net->cfg->frame_ms, 0);
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
		oxd_agg_peer_force(c->net->agg, c->uid, c->rd.cap - c->mem_rd);
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
			return oxd_conn_fail(c, r, "bad frame: %s (cap %u bytes)", oxp_strerror(r),
					     (unsigned)c->rd.frame_max);
		return process(c);
	}
	if (nread == 0)
		return;
	if (nread == UV_ENOBUFS && c->rd_refused)
		return oxd_conn_refuse_mem(c, "a message it is sending", c->rd_refused);
	if (nread == UV_ENOBUFS)
		return oxd_conn_fail(c, c->rd.err ? c->rd.err : -ENOMEM, "bad frame: %s",
				     oxp_strerror(c->rd.err ? c->rd.err : -ENOMEM));
	/* EOF or a reset: every whole frame has been handled already, so an
	 * agent's samples are all counted before its row says exited. */
	if (nread != UV_EOF)
		oxd_debug("%s: read: %s", c->label, uv_strerror((int)nread));
	oxd_conn_close(c);
}

size_t oxd_conn_queued(const struct oxd_conn *c)
{
	return uv_stream_get_write_queue_size((const uv_stream_t *)&c->pipe) + c->out.len;
}

void oxd_conn_timer(struct oxd_conn *c, uint64_t ms, int repeat)
{
	if (!ms)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_timeout, ms, repeat ? ms : 0);
}

struct oxd_conn *oxd_conn_new(struct oxd_net *n)
{
	struct oxd_conn *c = ox_xcalloc(1, sizeof(*c));
	c->net = n;
	oxp_buf_init(&c->out);
	uv_pipe_init(n->loop, &c->pipe, 0);
	uv_timer_init(n->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->open_handles = 2;
	snprintf(c->label, sizeof(c->label), "new connection");
	link_conn(n, c);
	return c;
}

void oxd_conn_start(struct oxd_conn *c)
{
	uv_timer_start(&c->timer, on_timeout, c->net->cfg->handshake_ms, 0);
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}
