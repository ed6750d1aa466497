/*
 * encode.c - struct oxp_msg -> one framed msgpack message.
 *
 * Every frame is [version, type, body]; the body layouts are in PROTOCOL.md
 * and mirrored one function per message below.  The encoder counts objects
 * as it packs so it can refuse a frame the peer's decoder would refuse.
 */
#include <errno.h>
#include <string.h>

#include <msgpack.h>

#include "internal.h"
#include "oxp/oxp.h"

struct enc {
	msgpack_packer pk;
	struct oxp_buf *b;
	size_t objects;
	int err;
};

static int enc_write(void *data, const char *buf, size_t len)
{
	struct enc *e = data;
	if (e->err)
		return -1;
	int r = oxp_buf_reserve(e->b, len);
	if (r < 0) {
		e->err = r;
		return -1;
	}
	if (len) /* msgpack passes NULL for an empty string body */
		memcpy(e->b->data + e->b->len, buf, len);
	e->b->len += len;
	return 0;
}

static void pk_arr(struct enc *e, uint32_t n)
{
	e->objects++;
	if (n > OXP_MAX_ARRAY && !e->err)
		e->err = -EMSGSIZE;
	msgpack_pack_array(&e->pk, n);
}

static void pk_u(struct enc *e, uint64_t v)
{
	e->objects++;
	msgpack_pack_uint64(&e->pk, v);
}

static void pk_i(struct enc *e, int64_t v)
{
	e->objects++;
	msgpack_pack_int64(&e->pk, v);
}

static void pk_f(struct enc *e, double v)
{
	e->objects++;
	msgpack_pack_double(&e->pk, v);
}

static void pk_s(struct enc *e, struct oxp_str s)
{
	e->objects++;
	if ((s.len > OXP_MAX_STR || (s.len && !s.ptr)) && !e->err)
		e->err = -EINVAL;
	if (e->err)
		return;
	msgpack_pack_str(&e->pk, s.len);
	msgpack_pack_str_body(&e->pk, s.ptr, s.len);
}

static void pk_fleet(struct enc *e, const struct oxp_fleet *f)
{
	pk_arr(e, 4);
	pk_u(e, f->running);
	pk_u(e, f->mode);
	pk_u(e, f->hz);
	pk_u(e, f->depth);
}

static void enc_hello(struct enc *e, const struct oxp_hello *m)
{
	pk_arr(e, 7);
	pk_u(e, m->role);
	pk_i(e, m->pid);
	pk_s(e, m->exe);
	pk_s(e, m->cmdline);
	pk_s(e, m->software);
	pk_u(e, m->instance);
	pk_i(e, m->ppid);
}

static void enc_welcome(struct enc *e, const struct oxp_welcome *m)
{
	pk_arr(e, 6);
	pk_s(e, m->software);
	pk_fleet(e, &m->fleet);
	pk_u(e, m->seq);
	pk_u(e, m->flush_ms);
	pk_u(e, m->durable);
	pk_u(e, m->received);
}

static void enc_error(struct enc *e, const struct oxp_error_msg *m)
{
	pk_arr(e, 2);
	pk_i(e, m->code);
	pk_s(e, m->message);
}

static void enc_command(struct enc *e, const struct oxp_command *m)
{
	pk_arr(e, 10);
	pk_u(e, m->cmd);
	pk_arr(e, 4);
	pk_arr(e, m->sel.npids);
	for (uint32_t i = 0; i < m->sel.npids; i++)
		pk_i(e, m->sel.pids[i]);
	pk_s(e, m->sel.exe);
	pk_s(e, m->sel.thread);
	pk_i(e, m->sel.tree);
	pk_u(e, m->hz);
	pk_u(e, m->mode);
	pk_u(e, m->depth);
	pk_u(e, m->by);
	pk_u(e, m->sort);
	pk_u(e, m->limit);
	pk_u(e, m->since_ms);
	pk_u(e, m->until_ms);
}

static void enc_reply(struct enc *e, const struct oxp_reply *m)
{
	pk_arr(e, 3);
	pk_i(e, m->code);
	pk_s(e, m->message);
	pk_u(e, m->affected);
}

static void enc_agent_row(struct enc *e, const struct oxp_agent_row *a)
{
	pk_arr(e, 25);
	pk_i(e, a->pid);
	pk_u(e, a->uid);
	pk_s(e, a->exe);
	pk_u(e, a->state);
	pk_u(e, a->mode);
	pk_u(e, a->hz_requested);
	pk_f(e, a->hz_achieved);
	pk_s(e, a->source);
	pk_u(e, a->samples);
	pk_u(e, a->dropped_agent);
	pk_u(e, a->dropped_daemon);
	pk_u(e, a->unwind_fail);
	pk_u(e, a->connected_ms);
	pk_u(e, a->last_batch_ms);
	pk_u(e, a->taken);
	pk_u(e, a->sent);
	pk_u(e, a->flags);
	pk_u(e, a->start_time);
	pk_u(e, a->cpu_user_ms);
	pk_u(e, a->cpu_sys_ms);
	pk_u(e, a->sampled_user_ms);
	pk_u(e, a->sampled_sys_ms);
	pk_u(e, a->cpu_covers);
	pk_i(e, a->ppid);
	pk_u(e, a->exited_ms);
}

static void enc_uid_row(struct enc *e, const struct oxp_uid_row *u)
{
	pk_arr(e, 7);
	pk_u(e, u->uid);
	pk_u(e, u->mem);
	pk_u(e, u->conns);
	pk_u(e, u->agents);
	pk_u(e, u->refused_conns);
	pk_u(e, u->refused_mem);
	pk_u(e, u->dropped);
}

static void enc_status(struct enc *e, const struct oxp_status *m)
{
	pk_arr(e, 18);
	pk_s(e, m->software);
	pk_u(e, m->uptime_ms);
	pk_fleet(e, &m->fleet);
	pk_u(e, m->mem_used);
	pk_u(e, m->mem_budget);
	pk_u(e, m->samples);
	pk_u(e, m->dropped);
	pk_u(e, m->refused_conns);
	pk_arr(e, m->nagents);
	for (uint32_t i = 0; i < m->nagents; i++)
		enc_agent_row(e, &m->agents[i]);
	pk_u(e, m->mem_peers);
	pk_u(e, m->refused_mem);
	pk_arr(e, m->nuids);
	for (uint32_t i = 0; i < m->nuids; i++)
		enc_uid_row(e, &m->uids[i]);
	pk_u(e, m->hist_slots);
	pk_u(e, m->hist_bytes);
	pk_u(e, m->hist_merged);
	pk_u(e, m->hist_dropped_slots);
	pk_u(e, m->hist_dropped_samples);
	pk_u(e, m->hist_first_ms);
}

static void enc_query_head(struct enc *e, const struct oxp_query_head *m)
{
	pk_arr(e, 10);
	pk_u(e, m->total);
	pk_u(e, m->first_ms);
	pk_u(e, m->last_ms);
	pk_u(e, m->nrows);
	pk_u(e, m->nprocs);
	pk_u(e, m->user_ms);
	pk_u(e, m->sys_ms);
	pk_u(e, m->covered_ms);
	pk_u(e, m->since_ms);
	pk_u(e, m->until_ms);
}

static void enc_query_rows(struct enc *e, const struct oxp_query_rows *m)
{
	pk_arr(e, 3);
	pk_arr(e, m->nrows);
	for (uint32_t i = 0; i < m->nrows && !e->err; i++) {
		const struct oxp_row *r = &m->rows[i];
		if (r->nframes > OXP_MAX_DEPTH) {
			e->err = -EMSGSIZE;
			break;
		}
		pk_arr(e, 7);
		pk_s(e, r->name);
		pk_s(e, r->module);
		pk_i(e, r->pid);
		pk_i(e, r->tid);
		pk_u(e, r->self);
		pk_u(e, r->total);
		pk_arr(e, r->nframes);
		for (uint32_t j = 0; j < r->nframes; j++)
			pk_u(e, r->frames[j]);
	}
	pk_arr(e, m->nframes);
	for (uint32_t i = 0; i < m->nframes; i++) {
		const struct oxp_qframe *f = &m->frames[i];
		pk_arr(e, 4);
		pk_u(e, f->id);
		pk_s(e, f->func);
		pk_u(e, f->module);
		pk_u(e, f->offset);
	}
	pk_arr(e, m->nmodules);
	for (uint32_t i = 0; i < m->nmodules; i++) {
		const struct oxp_qmodule *d = &m->modules[i];
		pk_arr(e, 4);
		pk_u(e, d->id);
		pk_s(e, d->path);
		pk_s(e, d->build_id);
		pk_u(e, d->load);
	}
}

static void enc_set_state(struct enc *e, const struct oxp_set_state *m)
{
	pk_arr(e, 3);
	pk_fleet(e, &m->fleet);
	pk_u(e, m->seq);
	pk_u(e, m->reset);
}

static void enc_stats(struct enc *e, const struct oxp_agent_stats *m)
{
	pk_arr(e, 16);
	pk_u(e, m->ack_seq);
	pk_u(e, m->state);
	pk_u(e, m->mode);
	pk_u(e, m->hz_requested);
	pk_f(e, m->hz_achieved);
	pk_s(e, m->source);
	pk_u(e, m->taken);
	pk_u(e, m->sent);
	pk_u(e, m->dropped);
	pk_u(e, m->unwind_fail);
	pk_u(e, m->skipped);
	pk_u(e, m->cpu_user_ms);
	pk_u(e, m->cpu_sys_ms);
	pk_u(e, m->sampled_user_ms);
	pk_u(e, m->sampled_sys_ms);
	pk_u(e, m->cpu_covers);
}

static void enc_samples(struct enc *e, const struct oxp_samples *m)
{
	pk_arr(e, 9);
	pk_u(e, m->seq);
	pk_arr(e, m->nstrings);
	for (uint32_t i = 0; i < m->nstrings; i++) {
		pk_arr(e, 2);
		pk_u(e, m->strings[i].id);
		pk_s(e, m->strings[i].str);
	}
	pk_arr(e, m->nframes);
	for (uint32_t i = 0; i < m->nframes; i++) {
		const struct oxp_frame_def *f = &m->frames[i];
		pk_arr(e, 4);
		pk_u(e, f->id);
		pk_u(e, f->func);
		pk_u(e, f->module);
		pk_u(e, f->offset);
	}
	pk_arr(e, m->nthreads);
	for (uint32_t i = 0; i < m->nthreads; i++) {
		pk_arr(e, 2);
		pk_u(e, m->threads[i].tid);
		pk_u(e, m->threads[i].name);
	}
	pk_arr(e, m->nstacks);
	for (uint32_t i = 0; i < m->nstacks && !e->err; i++) {
		const struct oxp_stack *s = &m->stacks[i];
		if (s->nframes > OXP_MAX_DEPTH) {
			e->err = -EMSGSIZE;
			break;
		}
		pk_arr(e, 4);
		pk_u(e, s->tid);
		pk_u(e, s->state);
		pk_u(e, s->count);
		pk_arr(e, s->nframes);
		for (uint32_t j = 0; j < s->nframes; j++)
			pk_u(e, s->frames[j]);
	}
	enc_stats(e, &m->stats);
	pk_arr(e, m->nmodules);
	for (uint32_t i = 0; i < m->nmodules; i++) {
		pk_arr(e, 3);
		pk_u(e, m->modules[i].module);
		pk_s(e, m->modules[i].build_id);
		pk_u(e, m->modules[i].load);
	}
	pk_u(e, m->first_ms);
	pk_u(e, m->last_ms);
}

size_t oxp_samples_objects(const struct oxp_samples *s)
{
	size_t n = 4 + 1 + 1 + 12 + 2; /* envelope, seq, array headers, stats, times */
	n += 3 * (size_t)s->nstrings + 5 * (size_t)s->nframes + 3 * (size_t)s->nthreads;
	n += 1 + 4 * (size_t)s->nmodules;
	for (uint32_t i = 0; i < s->nstacks; i++)
		n += 5 + (size_t)s->stacks[i].nframes;
	return n + 3;
}

static int enc_body(struct enc *e, const struct oxp_msg *m)
{
	switch (m->type) {
	case OXP_MSG_HELLO: enc_hello(e, &m->u.hello); break;
	case OXP_MSG_WELCOME: enc_welcome(e, &m->u.welcome); break;
	case OXP_MSG_ERROR: enc_error(e, &m->u.error); break;
	case OXP_MSG_BYE: pk_arr(e, 1); pk_s(e, m->u.bye.reason); break;
	case OXP_MSG_COMMAND: enc_command(e, &m->u.command); break;
	case OXP_MSG_REPLY: enc_reply(e, &m->u.reply); break;
	case OXP_MSG_STATUS: enc_status(e, &m->u.status); break;
	case OXP_MSG_QUERY_HEAD: enc_query_head(e, &m->u.query_head); break;
	case OXP_MSG_QUERY_ROWS: enc_query_rows(e, &m->u.query_rows); break;
	case OXP_MSG_SET_STATE: enc_set_state(e, &m->u.set_state); break;
	case OXP_MSG_AGENT_STATE: enc_stats(e, &m->u.agent_state); break;
	case OXP_MSG_SAMPLES: enc_samples(e, &m->u.samples); break;
	case OXP_MSG_SAMPLES_ACK:
		pk_arr(e, 4);
		pk_u(e, m->u.samples_ack.seq);
		pk_u(e, m->u.samples_ack.accepted);
		pk_u(e, m->u.samples_ack.refused);
		pk_u(e, m->u.samples_ack.durable);
		break;
	case OXP_MSG_DURABLE:
		pk_arr(e, 1);
		pk_u(e, m->u.durable.seq);
		break;
	default: return -EINVAL;
	}
	return 0;
}

int oxp_encode(struct oxp_buf *b, const struct oxp_msg *m)
{
	size_t start = b->len;
	struct enc e = { .b = b };
	msgpack_packer_init(&e.pk, &e, enc_write);
	int r = oxp_buf_reserve(b, OXP_FRAME_HDR);
	if (r < 0)
		return r;
	b->len += OXP_FRAME_HDR;
	pk_arr(&e, 3);
	pk_u(&e, OXP_PROTOCOL_VERSION);
	pk_u(&e, m->type);
	r = enc_body(&e, m);
	if (r == 0)
		r = e.err;
	size_t body = b->len - start - OXP_FRAME_HDR;
	if (r == 0 && (body > OXP_FRAME_MAX || e.objects > OXP_MAX_OBJECTS))
		r = -EMSGSIZE;
	if (r < 0) {
		b->len = start;
		return r;
	}
	oxp__be32_put(b->data + start, (uint32_t)body);
	return 0;
}
