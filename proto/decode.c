/*
 * decode.c - one frame's msgpack bytes -> struct oxp_msg, validated.
 *
 * Order: prescan (limits, no allocation), msgpack-c unpack into a zone the
 * decoder reuses, then shape checks field by field.  The field getters take
 * a sticky error: after the first mismatch they return zeros and point into
 * a static array of nil objects, so a decoder function reads straight down
 * its layout and checks the error once at the end.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "internal.h"
#include "oxp/oxp.h"

struct oxp_decoder {
	msgpack_unpacked up;
	int32_t *pids;
	size_t pids_cap;
	struct oxp_str_def *strs;
	size_t strs_cap;
	struct oxp_frame_def *frames;
	size_t frames_cap;
	struct oxp_thread_def *threads;
	size_t threads_cap;
	struct oxp_stack *stacks;
	size_t stacks_cap;
	uint32_t *ids;
	size_t ids_cap;
	struct oxp_agent_row *agents;
	size_t agents_cap;
	struct oxp_uid_row *uids;
	size_t uids_cap;
	struct oxp_row *rows;
	size_t rows_cap;
	uint32_t *row_ids;
	size_t row_ids_cap;
	struct oxp_qframe *qframes;
	size_t qframes_cap;
	struct oxp_qmodule *qmodules;
	size_t qmodules_cap;
	struct oxp_module_def *mods;
	size_t mods_cap;
};

struct dec {
	struct oxp_decoder *d;
	int err;
};

/* Stands in for any array once an error is set; longer than any layout. */
static const msgpack_object nil_objs[32];

int oxp_decoder_new(struct oxp_decoder **out)
{
	struct oxp_decoder *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	msgpack_unpacked_init(&d->up);
	*out = d;
	return 0;
}

void oxp_decoder_free(struct oxp_decoder *d)
{
	if (!d)
		return;
	msgpack_unpacked_destroy(&d->up);
	free(d->pids);
	free(d->strs);
	free(d->frames);
	free(d->threads);
	free(d->stacks);
	free(d->ids);
	free(d->agents);
	free(d->uids);
	free(d->rows);
	free(d->row_ids);
	free(d->qframes);
	free(d->qmodules);
	free(d->mods);
	free(d);
}

static void fail(struct dec *x, int code)
{
	if (!x->err)
		x->err = code;
}

/* Grow *p to hold n elements of size sz; n is already bounded by limits. */
static void *grow(struct dec *x, void *pp, size_t *cap, size_t n, size_t sz)
{
	void **p = pp;
	if (x->err)
		return NULL;
	if (n <= *cap)
		return *p;
	size_t c = *cap ? *cap : 16;
	while (c < n)
		c *= 2;
	void *q = realloc(*p, c * sz);
	if (!q) {
		fail(x, -ENOMEM);
		return NULL;
	}
	*p = q;
	*cap = c;
	return q;
}

/* A fixed-layout array of exactly n elements. */
static const msgpack_object *arr(struct dec *x, const msgpack_object *o, uint32_t n)
{
	if (!x->err && (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n))
		fail(x, -OXP_ESHAPE);
	return x->err ? nil_objs : o->via.array.ptr;
}

/* A variable-length array of at most max elements. */
static const msgpack_object *list(struct dec *x, const msgpack_object *o,
				  uint32_t *n, uint32_t max)
{
	*n = 0;
	if (!x->err && o->type != MSGPACK_OBJECT_ARRAY)
		fail(x, -OXP_ESHAPE);
	if (!x->err && o->via.array.size > max)
		fail(x, -OXP_ELIMIT);
	if (x->err)
		return nil_objs;
	*n = o->via.array.size;
	return o->via.array.ptr;
}

static uint64_t u64(struct dec *x, const msgpack_object *o, uint64_t max)
{
	if (!x->err && (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max))
		fail(x, -OXP_ESHAPE);
	return x->err ? 0 : o->via.u64;
}

static int64_t i64(struct dec *x, const msgpack_object *o, int64_t min, int64_t max)
{
	int64_t v = 0;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
		v = (int64_t)o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		v = o->via.i64;
	else
		fail(x, -OXP_ESHAPE);
	if (!x->err && (v < min || v > max))
		fail(x, -OXP_ESHAPE);
	return x->err ? 0 : v;
}

/* Every float in the protocol is a rate: finite and not negative. */
static double f64(struct dec *x, const msgpack_object *o)
{
	if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) {
		if (!isfinite(o->via.f64) || o->via.f64 < 0)
			fail(x, -OXP_ESHAPE);
		return x->err ? 0 : o->via.f64;
	}
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return x->err ? 0 : (double)o->via.u64;
	fail(x, -OXP_ESHAPE);
	return 0;
}

/* Strings never hold NUL, so receivers may print them as C strings. */
static struct oxp_str str(struct dec *x, const msgpack_object *o)
{
	struct oxp_str s = { "", 0 };
	if (!x->err && o->type != MSGPACK_OBJECT_STR)
		fail(x, -OXP_ESHAPE);
	if (x->err)
		return s;
	if (o->via.str.size && memchr(o->via.str.ptr, 0, o->via.str.size)) {
		fail(x, -OXP_ESHAPE);
		return s;
	}
	s.ptr = o->via.str.size ? o->via.str.ptr : "";
	s.len = o->via.str.size;
	return s;
}

static void dec_fleet(struct dec *x, const msgpack_object *o, struct oxp_fleet *f)
{
	const msgpack_object *a = arr(x, o, 4);
	f->running = (uint8_t)u64(x, &a[0], 1);
	f->mode = (uint8_t)u64(x, &a[1], OXP_MODE_WALL);
	f->hz = (uint32_t)u64(x, &a[2], OXP_MAX_HZ);
	f->depth = (uint32_t)u64(x, &a[3], OXP_MAX_DEPTH);
	if (!x->err && (f->hz == 0 || f->depth == 0))
		fail(x, -OXP_ESHAPE);
}

static void dec_hello(struct dec *x, const msgpack_object *o, struct oxp_hello *m)
{
	const msgpack_object *a = arr(x, o, 7);
	m->role = (uint8_t)u64(x, &a[0], OXP_ROLE_CONTROL);
	m->pid = (int32_t)i64(x, &a[1], 0, INT32_MAX);
	m->exe = str(x, &a[2]);
	m->cmdline = str(x, &a[3]);
	m->software = str(x, &a[4]);
	m->instance = u64(x, &a[5], UINT64_MAX);
	m->ppid = (int32_t)i64(x, &a[6], 0, INT32_MAX);
	if (!x->err && m->role < OXP_ROLE_AGENT)
		fail(x, -OXP_ESHAPE);
}

static void dec_welcome(struct dec *x, const msgpack_object *o, struct oxp_welcome *m)
{
	const msgpack_object *a = arr(x, o, 6);
	m->software = str(x, &a[0]);
	dec_fleet(x, &a[1], &m->fleet);
	m->seq = u64(x, &a[2], UINT64_MAX);
	m->flush_ms = (uint32_t)u64(x, &a[3], UINT32_MAX);
	m->durable = u64(x, &a[4], UINT64_MAX);
	m->received = u64(x, &a[5], UINT64_MAX);
	if (!x->err && m->durable > m->received)
		fail(x, -OXP_ESHAPE);
}

static void dec_error(struct dec *x, const msgpack_object *o, struct oxp_error_msg *m)
{
	const msgpack_object *a = arr(x, o, 2);
	m->code = (int32_t)i64(x, &a[0], INT32_MIN, 0);
	m->message = str(x, &a[1]);
}

static void dec_command(struct dec *x, const msgpack_object *o, struct oxp_command *m)
{
	const msgpack_object *a = arr(x, o, 10);
	m->cmd = (uint8_t)u64(x, &a[0], OXP_CMD_QUERY);
	const msgpack_object *sel = arr(x, &a[1], 4);
	const msgpack_object *p = list(x, &sel[0], &m->sel.npids, OXP_MAX_PIDS);
	int32_t *pids = grow(x, &x->d->pids, &x->d->pids_cap, m->sel.npids, sizeof(*pids));
	for (uint32_t i = 0; i < m->sel.npids && !x->err; i++)
		pids[i] = (int32_t)i64(x, &p[i], 1, INT32_MAX);
	m->sel.pids = pids;
	m->sel.exe = str(x, &sel[1]);
	m->sel.thread = str(x, &sel[2]);
	m->sel.tree = (int32_t)i64(x, &sel[3], 0, INT32_MAX);
	m->hz = (uint32_t)u64(x, &a[2], OXP_MAX_HZ);
	m->mode = (uint8_t)u64(x, &a[3], 0xff);
	m->depth = (uint32_t)u64(x, &a[4], OXP_MAX_DEPTH);
	m->by = (uint8_t)u64(x, &a[5], OXP_BY_FRAMES);
	m->sort = (uint8_t)u64(x, &a[6], OXP_SORT_TOTAL);
	m->limit = (uint32_t)u64(x, &a[7], UINT32_MAX);
	m->since_ms = u64(x, &a[8], UINT64_MAX);
	m->until_ms = u64(x, &a[9], UINT64_MAX);
	if (!x->err && (m->cmd < OXP_CMD_STATUS ||
			(m->mode > OXP_MODE_WALL && m->mode != 0xff)))
		fail(x, -OXP_ESHAPE);
}

static void dec_reply(struct dec *x, const msgpack_object *o, struct oxp_reply *m)
{
	const msgpack_object *a = arr(x, o, 3);
	m->code = (int32_t)i64(x, &a[0], INT32_MIN, 0);
	m->message = str(x, &a[1]);
	m->affected = (uint32_t)u64(x, &a[2], UINT32_MAX);
}

static void dec_agent_row(struct dec *x, const msgpack_object *o, struct oxp_agent_row *r)
{
	const msgpack_object *a = arr(x, o, 25);
	r->pid = (int32_t)i64(x, &a[0], 0, INT32_MAX);
	r->uid = (uint32_t)u64(x, &a[1], UINT32_MAX);
	r->exe = str(x, &a[2]);
	r->state = (uint8_t)u64(x, &a[3], OXP_AGENT_DISABLED);
	r->mode = (uint8_t)u64(x, &a[4], OXP_MODE_WALL);
	r->hz_requested = (uint32_t)u64(x, &a[5], OXP_MAX_HZ);
	r->hz_achieved = f64(x, &a[6]);
	r->source = str(x, &a[7]);
	r->samples = u64(x, &a[8], UINT64_MAX);
	r->dropped_agent = u64(x, &a[9], UINT64_MAX);
	r->dropped_daemon = u64(x, &a[10], UINT64_MAX);
	r->unwind_fail = u64(x, &a[11], UINT64_MAX);
	r->connected_ms = u64(x, &a[12], UINT64_MAX);
	r->last_batch_ms = u64(x, &a[13], UINT64_MAX);
	r->taken = u64(x, &a[14], UINT64_MAX);
	r->sent = u64(x, &a[15], UINT64_MAX);
	r->flags = (uint32_t)u64(x, &a[16], UINT32_MAX);
	r->start_time = u64(x, &a[17], UINT64_MAX);
	r->cpu_user_ms = u64(x, &a[18], UINT64_MAX);
	r->cpu_sys_ms = u64(x, &a[19], UINT64_MAX);
	r->sampled_user_ms = u64(x, &a[20], UINT64_MAX);
	r->sampled_sys_ms = u64(x, &a[21], UINT64_MAX);
	r->cpu_covers = (uint8_t)u64(x, &a[22], OXP_CPU_USER | OXP_CPU_SYSTEM);
	r->ppid = (int32_t)i64(x, &a[23], 0, INT32_MAX);
	r->exited_ms = u64(x, &a[24], UINT64_MAX);
}

static void dec_uid_row(struct dec *x, const msgpack_object *o, struct oxp_uid_row *u)
{
	const msgpack_object *a = arr(x, o, 7);
	u->uid = (uint32_t)u64(x, &a[0], UINT32_MAX);
	u->mem = u64(x, &a[1], UINT64_MAX);
	u->conns = (uint32_t)u64(x, &a[2], UINT32_MAX);
	u->agents = (uint32_t)u64(x, &a[3], UINT32_MAX);
	u->refused_conns = u64(x, &a[4], UINT64_MAX);
	u->refused_mem = u64(x, &a[5], UINT64_MAX);
	u->dropped = u64(x, &a[6], UINT64_MAX);
}

static void dec_status(struct dec *x, const msgpack_object *o, struct oxp_status *m)
{
	const msgpack_object *a = arr(x, o, 18);
	m->software = str(x, &a[0]);
	m->uptime_ms = u64(x, &a[1], UINT64_MAX);
	dec_fleet(x, &a[2], &m->fleet);
	m->mem_used = u64(x, &a[3], UINT64_MAX);
	m->mem_budget = u64(x, &a[4], UINT64_MAX);
	m->samples = u64(x, &a[5], UINT64_MAX);
	m->dropped = u64(x, &a[6], UINT64_MAX);
	m->refused_conns = u64(x, &a[7], UINT64_MAX);
	const msgpack_object *l = list(x, &a[8], &m->nagents, OXP_MAX_ARRAY);
	struct oxp_agent_row *rows = grow(x, &x->d->agents, &x->d->agents_cap,
					  m->nagents, sizeof(*rows));
	for (uint32_t i = 0; i < m->nagents && !x->err; i++)
		dec_agent_row(x, &l[i], &rows[i]);
	m->agents = rows;
	m->mem_peers = u64(x, &a[9], UINT64_MAX);
	m->refused_mem = u64(x, &a[10], UINT64_MAX);
	const msgpack_object *ul = list(x, &a[11], &m->nuids, OXP_MAX_ARRAY);
	struct oxp_uid_row *uids = grow(x, &x->d->uids, &x->d->uids_cap, m->nuids, sizeof(*uids));
	for (uint32_t i = 0; i < m->nuids && !x->err; i++)
		dec_uid_row(x, &ul[i], &uids[i]);
	m->uids = uids;
	m->hist_slots = u64(x, &a[12], UINT64_MAX);
	m->hist_bytes = u64(x, &a[13], UINT64_MAX);
	m->hist_merged = u64(x, &a[14], UINT64_MAX);
	m->hist_dropped_slots = u64(x, &a[15], UINT64_MAX);
	m->hist_dropped_samples = u64(x, &a[16], UINT64_MAX);
	m->hist_first_ms = u64(x, &a[17], UINT64_MAX);
}

static void dec_query_head(struct dec *x, const msgpack_object *o, struct oxp_query_head *m)
{
	const msgpack_object *a = arr(x, o, 10);
	m->total = u64(x, &a[0], UINT64_MAX);
	m->first_ms = u64(x, &a[1], UINT64_MAX);
	m->last_ms = u64(x, &a[2], UINT64_MAX);
	m->nrows = (uint32_t)u64(x, &a[3], UINT32_MAX);
	m->nprocs = (uint32_t)u64(x, &a[4], UINT32_MAX);
	m->user_ms = u64(x, &a[5], UINT64_MAX);
	m->sys_ms = u64(x, &a[6], UINT64_MAX);
	m->covered_ms = u64(x, &a[7], UINT64_MAX);
	m->since_ms = u64(x, &a[8], UINT64_MAX);
	m->until_ms = u64(x, &a[9], UINT64_MAX);
}

/* by=frames definitions of a QUERY_ROWS body (a[1], a[2]). */
static void dec_query_defs(struct dec *x, const msgpack_object *a, struct oxp_query_rows *m)
{
	struct oxp_decoder *d = x->d;
	const msgpack_object *l = list(x, &a[1], &m->nframes, OXP_MAX_ARRAY);
	struct oxp_qframe *f = grow(x, &d->qframes, &d->qframes_cap, m->nframes, sizeof(*f));
	for (uint32_t i = 0; i < m->nframes && !x->err; i++) {
		const msgpack_object *e = arr(x, &l[i], 4);
		f[i].id = (uint32_t)u64(x, &e[0], UINT32_MAX);
		f[i].func = str(x, &e[1]);
		f[i].module = (uint32_t)u64(x, &e[2], UINT32_MAX);
		f[i].offset = u64(x, &e[3], UINT64_MAX);
	}
	m->frames = f;
	l = list(x, &a[2], &m->nmodules, OXP_MAX_ARRAY);
	struct oxp_qmodule *md = grow(x, &d->qmodules, &d->qmodules_cap, m->nmodules, sizeof(*md));
	for (uint32_t i = 0; i < m->nmodules && !x->err; i++) {
		const msgpack_object *e = arr(x, &l[i], 4);
		md[i].id = (uint32_t)u64(x, &e[0], UINT32_MAX);
		md[i].path = str(x, &e[1]);
		md[i].build_id = str(x, &e[2]);
		md[i].load = u64(x, &e[3], UINT64_MAX);
	}
	m->modules = md;
}

static void dec_query_rows(struct dec *x, const msgpack_object *o, struct oxp_query_rows *m)
{
	struct oxp_decoder *d = x->d;
	const msgpack_object *a = arr(x, o, 3);
	const msgpack_object *l = list(x, &a[0], &m->nrows, OXP_MAX_ARRAY);
	struct oxp_row *rows = grow(x, &d->rows, &d->rows_cap, m->nrows, sizeof(*rows));
	/* First pass sizes the id array, so pointers into it stay valid. */
	size_t nids = 0;
	for (uint32_t i = 0; i < m->nrows && !x->err; i++) {
		const msgpack_object *r = arr(x, &l[i], 7);
		if (!x->err && r[6].type == MSGPACK_OBJECT_ARRAY)
			nids += r[6].via.array.size;
	}
	uint32_t *ids = grow(x, &d->row_ids, &d->row_ids_cap, nids ? nids : 1, sizeof(*ids));
	nids = 0;
	for (uint32_t i = 0; i < m->nrows && !x->err; i++) {
		const msgpack_object *r = arr(x, &l[i], 7);
		rows[i].name = str(x, &r[0]);
		rows[i].module = str(x, &r[1]);
		rows[i].pid = (int32_t)i64(x, &r[2], 0, INT32_MAX);
		rows[i].tid = (int32_t)i64(x, &r[3], 0, INT32_MAX);
		rows[i].self = u64(x, &r[4], UINT64_MAX);
		rows[i].total = u64(x, &r[5], UINT64_MAX);
		const msgpack_object *fr = list(x, &r[6], &rows[i].nframes, OXP_MAX_DEPTH);
		rows[i].frames = ids ? ids + nids : NULL;
		for (uint32_t j = 0; j < rows[i].nframes && !x->err; j++)
			ids[nids++] = (uint32_t)u64(x, &fr[j], UINT32_MAX);
	}
	m->rows = rows;
	dec_query_defs(x, a, m);
}

static void dec_set_state(struct dec *x, const msgpack_object *o, struct oxp_set_state *m)
{
	const msgpack_object *a = arr(x, o, 3);
	dec_fleet(x, &a[0], &m->fleet);
	m->seq = u64(x, &a[1], UINT64_MAX);
	m->reset = (uint8_t)u64(x, &a[2], 1);
}

static void dec_stats(struct dec *x, const msgpack_object *o, struct oxp_agent_stats *m)
{
	const msgpack_object *a = arr(x, o, 16);
	m->ack_seq = u64(x, &a[0], UINT64_MAX);
	m->state = (uint8_t)u64(x, &a[1], OXP_AGENT_DISABLED);
	m->mode = (uint8_t)u64(x, &a[2], OXP_MODE_WALL);
	m->hz_requested = (uint32_t)u64(x, &a[3], OXP_MAX_HZ);
	m->hz_achieved = f64(x, &a[4]);
	m->source = str(x, &a[5]);
	m->taken = u64(x, &a[6], UINT64_MAX);
	m->sent = u64(x, &a[7], UINT64_MAX);
	m->dropped = u64(x, &a[8], UINT64_MAX);
	m->unwind_fail = u64(x, &a[9], UINT64_MAX);
	m->skipped = u64(x, &a[10], UINT64_MAX);
	m->cpu_user_ms = u64(x, &a[11], UINT64_MAX);
	m->cpu_sys_ms = u64(x, &a[12], UINT64_MAX);
	m->sampled_user_ms = u64(x, &a[13], UINT64_MAX);
	m->sampled_sys_ms = u64(x, &a[14], UINT64_MAX);
	m->cpu_covers = (uint8_t)u64(x, &a[15], OXP_CPU_USER | OXP_CPU_SYSTEM);
}

static void dec_defs(struct dec *x, const msgpack_object *a, struct oxp_samples *m)
{
	struct oxp_decoder *d = x->d;
	const msgpack_object *l = list(x, &a[1], &m->nstrings, OXP_MAX_ARRAY);
	struct oxp_str_def *s = grow(x, &d->strs, &d->strs_cap, m->nstrings, sizeof(*s));
	for (uint32_t i = 0; i < m->nstrings && !x->err; i++) {
		const msgpack_object *e = arr(x, &l[i], 2);
		s[i].id = (uint32_t)u64(x, &e[0], UINT32_MAX);
		s[i].str = str(x, &e[1]);
	}
	m->strings = s;
	l = list(x, &a[2], &m->nframes, OXP_MAX_ARRAY);
	struct oxp_frame_def *f = grow(x, &d->frames, &d->frames_cap, m->nframes, sizeof(*f));
	for (uint32_t i = 0; i < m->nframes && !x->err; i++) {
		const msgpack_object *e = arr(x, &l[i], 4);
		f[i].id = (uint32_t)u64(x, &e[0], UINT32_MAX);
		f[i].func = (uint32_t)u64(x, &e[1], UINT32_MAX);
		f[i].module = (uint32_t)u64(x, &e[2], UINT32_MAX);
		f[i].offset = u64(x, &e[3], UINT64_MAX);
	}
	m->frames = f;
	l = list(x, &a[3], &m->nthreads, OXP_MAX_ARRAY);
	struct oxp_thread_def *t = grow(x, &d->threads, &d->threads_cap, m->nthreads, sizeof(*t));
	for (uint32_t i = 0; i < m->nthreads && !x->err; i++) {
		const msgpack_object *e = arr(x, &l[i], 2);
		t[i].tid = (uint32_t)u64(x, &e[0], INT32_MAX);
		t[i].name = (uint32_t)u64(x, &e[1], UINT32_MAX);
	}
	m->threads = t;
}

static void dec_samples(struct dec *x, const msgpack_object *o, struct oxp_samples *m)
{
	struct oxp_decoder *d = x->d;
	const msgpack_object *a = arr(x, o, 9);
	m->seq = u64(x, &a[0], UINT64_MAX);
	dec_defs(x, a, m);
	const msgpack_object *l = list(x, &a[4], &m->nstacks, OXP_MAX_ARRAY);
	struct oxp_stack *st = grow(x, &d->stacks, &d->stacks_cap, m->nstacks, sizeof(*st));
	/* First pass sizes the id array, so pointers into it stay valid. */
	size_t nids = 0;
	for (uint32_t i = 0; i < m->nstacks && !x->err; i++) {
		const msgpack_object *e = arr(x, &l[i], 4);
		if (!x->err && e[3].type == MSGPACK_OBJECT_ARRAY)
			nids += e[3].via.array.size;
	}
	uint32_t *ids = grow(x, &d->ids, &d->ids_cap, nids ? nids : 1, sizeof(*ids));
	nids = 0;
	for (uint32_t i = 0; i < m->nstacks && !x->err; i++) {
		const msgpack_object *e = arr(x, &l[i], 4);
		st[i].tid = (uint32_t)u64(x, &e[0], INT32_MAX);
		st[i].state = (uint8_t)u64(x, &e[1], OXP_TS_BLOCKED);
		st[i].count = (uint32_t)u64(x, &e[2], UINT32_MAX);
		const msgpack_object *fr = list(x, &e[3], &st[i].nframes, OXP_MAX_DEPTH);
		st[i].frames = ids ? ids + nids : NULL;
		for (uint32_t j = 0; j < st[i].nframes && !x->err; j++)
			ids[nids++] = (uint32_t)u64(x, &fr[j], UINT32_MAX);
	}
	m->stacks = st;
	dec_stats(x, &a[5], &m->stats);
	l = list(x, &a[6], &m->nmodules, OXP_MAX_ARRAY);
	struct oxp_module_def *md = grow(x, &d->mods, &d->mods_cap, m->nmodules, sizeof(*md));
	for (uint32_t i = 0; i < m->nmodules && !x->err; i++) {
		const msgpack_object *e = arr(x, &l[i], 3);
		md[i].module = (uint32_t)u64(x, &e[0], UINT32_MAX);
		md[i].build_id = str(x, &e[1]);
		md[i].load = u64(x, &e[2], UINT64_MAX);
	}
	m->modules = md;
	m->first_ms = u64(x, &a[7], UINT64_MAX);
	m->last_ms = u64(x, &a[8], UINT64_MAX);
}

static void dec_ack(struct dec *x, const msgpack_object *o, struct oxp_samples_ack *m)
{
	const msgpack_object *a = arr(x, o, 4);
	m->seq = u64(x, &a[0], UINT64_MAX);
	m->accepted = u64(x, &a[1], UINT64_MAX);
	m->refused = u64(x, &a[2], UINT64_MAX);
	m->durable = u64(x, &a[3], UINT64_MAX);
}

static void dec_body(struct dec *x, struct oxp_msg *m, const msgpack_object *body)
{
	switch (m->type) {
	case OXP_MSG_HELLO: dec_hello(x, body, &m->u.hello); break;
	case OXP_MSG_WELCOME: dec_welcome(x, body, &m->u.welcome); break;
	case OXP_MSG_ERROR: dec_error(x, body, &m->u.error); break;
	case OXP_MSG_BYE: m->u.bye.reason = str(x, &arr(x, body, 1)[0]); break;
	case OXP_MSG_COMMAND: dec_command(x, body, &m->u.command); break;
	case OXP_MSG_REPLY: dec_reply(x, body, &m->u.reply); break;
	case OXP_MSG_STATUS: dec_status(x, body, &m->u.status); break;
	case OXP_MSG_QUERY_HEAD: dec_query_head(x, body, &m->u.query_head); break;
	case OXP_MSG_QUERY_ROWS: dec_query_rows(x, body, &m->u.query_rows); break;
	case OXP_MSG_SET_STATE: dec_set_state(x, body, &m->u.set_state); break;
	case OXP_MSG_AGENT_STATE: dec_stats(x, body, &m->u.agent_state); break;
	case OXP_MSG_SAMPLES: dec_samples(x, body, &m->u.samples); break;
	case OXP_MSG_SAMPLES_ACK: dec_ack(x, body, &m->u.samples_ack); break;
	case OXP_MSG_DURABLE: m->u.durable.seq = u64(x, &arr(x, body, 1)[0], UINT64_MAX); break;
	default: fail(x, -OXP_ESHAPE); break;
	}
}

int oxp_decoder_decode(struct oxp_decoder *d, const uint8_t *frame, size_t len,
		       struct oxp_msg *m, uint32_t *peer_version)
{
	memset(m, 0, sizeof(*m));
	int r = oxp__prescan(frame, len);
	if (r < 0)
		return r;
	size_t off = 0;
	switch (msgpack_unpack_next(&d->up, (const char *)frame, len, &off)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return -ENOMEM;
	default: /* CONTINUE, EXTRA_BYTES, PARSE_ERROR: prescan let it by */
		return -EBADMSG;
	}
	if (off != len)
		return -EBADMSG;
	struct dec x = { d, 0 };
	const msgpack_object *env = arr(&x, &d->up.data, 3);
	uint32_t version = (uint32_t)u64(&x, &env[0], UINT32_MAX);
	m->type = (uint32_t)u64(&x, &env[1], UINT32_MAX);
	if (x.err)
		return x.err;
	if (peer_version)
		*peer_version = version;
	if (version != OXP_PROTOCOL_VERSION)
		return -OXP_EVERSION;
	dec_body(&x, m, &env[2]);
	return x.err;
}
