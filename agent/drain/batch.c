/*
 * batch.c - pending stacks -> SAMPLES frames (drain thread).
 *
 * Frames and strings are defined on the wire the first time a connection
 * needs them; threads likewise.  A flush may need several frames to stay
 * inside the protocol limits; each is acknowledged on its own.
 *
 * Every frame sent goes into the delivery log (held.c) until the daemon
 * says it is durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "grow.h"

/* Cut a frame well before the decoder's limits.  Objects are counted with
 * the protocol's own costs (oxp_samples_objects, see costs()). */
#define BATCH_OBJECTS (OXP_MAX_OBJECTS / 2)
#define BATCH_STACKS 16384
#define BATCH_BYTES (OXP_FRAME_MAX / 2)

struct batch {
	struct oxp_str_def *strs;
	size_t nstrs, cap_strs;
	struct oxp_frame_def *frames;
	size_t nframes, cap_frames;
	struct oxp_thread_def *threads;
	size_t nthreads, cap_threads;
	struct oxp_module_def *mods;
	size_t nmods, cap_mods;
	struct oxp_stack *stacks;
	struct oxa_held_rec *recs;  /* the table entry of each stack */
	size_t nstacks;
	uint32_t *ids;
	size_t nids, cap_ids;
	size_t objects;
	size_t bytes;         /* an upper bound of the encoded size */
	struct costs {        /* msgpack objects of each part */
		size_t empty, str, frame, thread, stack, stack_frame, module;
	} cost;
};

/* What each part of a SAMPLES frame costs, from oxp_samples_objects: the
 * cut follows the encoder, never a count of its own. */
static void costs(struct costs *c)
{
	struct oxp_stack st = { 0 };
	struct oxp_samples s = { 0 };
	c->empty = oxp_samples_objects(&s);
	s.nstrings = 1;
	c->str = oxp_samples_objects(&s) - c->empty;
	s.nstrings = 0, s.nframes = 1;
	c->frame = oxp_samples_objects(&s) - c->empty;
	s.nframes = 0, s.nthreads = 1;
	c->thread = oxp_samples_objects(&s) - c->empty;
	s.nthreads = 0, s.nstacks = 1, s.stacks = &st;
	c->stack = oxp_samples_objects(&s) - c->empty;
	st.nframes = 1;
	c->stack_frame = oxp_samples_objects(&s) - c->empty - c->stack;
	s.nstacks = 0, s.nmodules = 1;
	c->module = oxp_samples_objects(&s) - c->empty;
}

int oxa_gens_defined(struct oxa_gens *g, uint32_t id, uint32_t gen, int *was)
{
	if (id >= g->cap) {
		size_t cap = g->cap ? g->cap : 1024;
		while (cap <= id)
			cap *= 2;
		uint32_t *n = realloc(g->gen, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		memset(n + g->cap, 0, (cap - g->cap) * sizeof(*n));
		g->gen = n;
		g->cap = cap;
	}
	*was = g->gen[id] == gen;
	g->gen[id] = gen;
	return 0;
}

static int def_string(struct oxa_agent *a, struct batch *b, uint32_t id)
{
	int was, r = oxa_gens_defined(&a->str_gens, id, a->conn.gen, &was);
	if (r < 0 || was)
		return r;
	if (oxa_grow(&b->strs, &b->cap_strs, b->nstrs + 1, sizeof(*b->strs)) < 0)
		return -ENOMEM;
	b->strs[b->nstrs++] = (struct oxp_str_def){ id, { a->strs.strs[id], a->strs.lens[id] } };
	b->objects += b->cost.str;
	b->bytes += a->strs.lens[id] + 16;
	return 0;
}

/* A module's build-id and layout, once per connection, with the module's
 * first frame ([anon] and [jit] are no loaded module: nothing). */
static int def_module(struct oxa_agent *a, struct batch *b, uint32_t module)
{
	uint32_t bid;
	uint64_t load;
	int was, r = oxa_gens_defined(&a->mod_gens, module, a->conn.gen, &was);
	if (r < 0 || was || !oxa_symbols_module(a->syms, module, &bid, &load))
		return r;
	if (oxa_grow(&b->mods, &b->cap_mods, b->nmods + 1, sizeof(*b->mods)) < 0)
		return -ENOMEM;
	struct oxp_str hex = bid ? (struct oxp_str){ a->strs.strs[bid - 1], a->strs.lens[bid - 1] }
				 : (struct oxp_str){ "", 0 };
	b->mods[b->nmods++] = (struct oxp_module_def){ module, hex, load };
	b->objects += b->cost.module;
	b->bytes += hex.len + 24;
	return 0;
}

static int def_frame(struct oxa_agent *a, struct batch *b, uint32_t id)
{
	int was, r = oxa_gens_defined(&a->frame_gens, id, a->conn.gen, &was);
	if (r < 0 || was)
		return r;
	const struct oxa_frame *f = &a->frames.v[id];
	if ((r = def_string(a, b, f->func)) < 0 || (r = def_string(a, b, f->module)) < 0 ||
	    (r = def_module(a, b, f->module)) < 0)
		return r;
	if (oxa_grow(&b->frames, &b->cap_frames, b->nframes + 1, sizeof(*b->frames)) < 0)
		return -ENOMEM;
	b->frames[b->nframes++] = (struct oxp_frame_def){ id, f->func, f->module, f->offset };
	b->objects += b->cost.frame;
	return 0;
}

static int def_thread(struct oxa_agent *a, struct batch *b, uint32_t tid)
{
	struct oxa_tname *t;
	int r = oxa_thread_name(a, tid, &t);
	if (r < 0 || t->gen == a->conn.gen)
		return r;
	if ((r = def_string(a, b, t->name)) < 0)
		return r;
	if (oxa_grow(&b->threads, &b->cap_threads, b->nthreads + 1, sizeof(*b->threads)) < 0)
		return -ENOMEM;
	t->gen = a->conn.gen;
	b->threads[b->nthreads++] = (struct oxp_thread_def){ tid, t->name };
	b->objects += b->cost.thread;
	return 0;
}

/* Frame ids of one stack, appended to b->ids.  All but the interrupted pc
 * (ips[0]) are return addresses. */
static int add_stack(struct oxa_agent *a, struct batch *b, const struct oxa_stack_ent *e)
{
	const uintptr_t *ips = oxa_stacks_ips(&a->pending, e);
	int r;
	if (oxa_grow(&b->ids, &b->cap_ids, b->nids + e->nframes, sizeof(*b->ids)) < 0)
		return -ENOMEM;
	for (uint16_t i = 0; i < e->nframes; i++) {
		uint32_t id;
		if ((r = oxa_frames_id(&a->frames, ips[i], i > 0, &id)) < 0 ||
		    (r = def_frame(a, b, id)) < 0)
			return r;
		b->ids[b->nids + i] = id;
	}
	if ((r = def_thread(a, b, e->tid)) < 0)
		return r;
	b->nids += e->nframes;
	b->objects += b->cost.stack + b->cost.stack_frame * e->nframes;
	return 0;
}

/* Encode what b holds as one SAMPLES frame, and log it. */
static int emit(struct oxa_agent *a, struct batch *b)
{
	char src[128];
	struct oxp_msg m = { .type = OXP_MSG_SAMPLES };
	struct oxp_samples *s = &m.u.samples;
	size_t off = 0;
	for (size_t i = 0; i < b->nstacks; i++) { /* ids moved while growing */
		b->stacks[i].frames = b->ids + off;
		off += b->stacks[i].nframes;
	}
	s->seq = a->batch_seq + 1;
	s->nstrings = (uint32_t)b->nstrs;
	s->strings = b->strs;
	s->nframes = (uint32_t)b->nframes;
	s->frames = b->frames;
	s->nthreads = (uint32_t)b->nthreads;
	s->threads = b->threads;
	s->nstacks = (uint32_t)b->nstacks;
	s->stacks = b->stacks;
	s->nmodules = (uint32_t)b->nmods;
	s->modules = b->mods;
	s->first_ms = a->pend_first_ms;
	s->last_ms = a->pend_last_ms;
	oxa_state_fill(a, &s->stats, src, sizeof(src));
	int r = oxa_held_reserve(a, b->nstacks);
	if (r == 0)
		r = oxp_encode(&a->conn.out, &m);
	if (r == 0) {
		/* The seq goes up only for a batch that goes out: the daemon
		 * checks that they rise, and across connections too. */
		a->batch_seq++;
		a->conn.unacked++;
		oxa_held_push(a, s->seq, s->first_ms, s->last_ms, b->recs, b->nstacks);
	} else {
		for (size_t i = 0; i < b->nstacks; i++) { /* not sent after all */
			struct oxa_stack_ent *e = &a->pending.ents[b->recs[i].ent];
			e->inflight -= b->recs[i].count;
			e->pending += b->recs[i].count;
		}
	}
	b->nstrs = b->nframes = b->nthreads = b->nstacks = b->nids = b->nmods = 0;
	b->objects = b->cost.empty;
	b->bytes = 0;
	return r;
}

static void batch_free(struct batch *b)
{
	free(b->strs);
	free(b->frames);
	free(b->threads);
	free(b->mods);
	free(b->stacks);
	free(b->recs);
	free(b->ids);
}

int oxa_batch_queue(struct oxa_agent *a)
{
	struct batch b = { 0 };
	costs(&b.cost);
	b.objects = b.cost.empty;
	int r = 0;
	b.stacks = malloc(BATCH_STACKS * sizeof(*b.stacks));
	b.recs = malloc(BATCH_STACKS * sizeof(*b.recs));
	if (!b.stacks || !b.recs) {
		batch_free(&b);
		return -ENOMEM;
	}
	for (size_t i = 0; i < a->pending.nents && r == 0; i++) {
		struct oxa_stack_ent *e = &a->pending.ents[i];
		if (!e->pending)
			continue;
		if ((r = add_stack(a, &b, e)) < 0)
			break;
		b.recs[b.nstacks] = (struct oxa_held_rec){ (uint32_t)i, e->pending };
		b.stacks[b.nstacks++] = (struct oxp_stack){ e->tid, e->state, e->pending,
							    e->nframes, NULL };
		e->inflight += e->pending;
		e->pending = 0;
		if (b.nstacks == BATCH_STACKS || b.objects > BATCH_OBJECTS ||
		    b.bytes + 9 * b.objects > BATCH_BYTES)
			r = emit(a, &b);
	}
	if (r == 0 && b.nstacks)
		r = emit(a, &b);
	batch_free(&b);
	/* What did not go out stays pending, and so does its time span. */
	if (!oxa_stacks_pending(&a->pending))
		a->pend_first_ms = a->pend_last_ms = 0;
	return r;
}

/* "/proc/self/task/TID/comm", or "tid-N" when the thread is gone. */
static int read_name(uint32_t tid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%u/comm", tid);
	struct oxa_fdid id; /* the agent's range, closed only if ours (fds.h) */
	int fd = oxa_fd_open(path, O_RDONLY, 0, &id);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : -1;
	oxa_fd_close(fd, &id);
	if (n <= 0)
		return snprintf(buf, len, "tid-%u", tid);
	if (buf[n - 1] == '\n')
		n--;
	buf[n] = 0;
	return (int)n;
}

static uint32_t tname_hash(const void *agent, uint32_t id)
{
	return ox_hash_u64(((const struct oxa_agent *)agent)->tnames[id].tid);
}

static int tname_eq(const void *agent, uint32_t id, const void *tid)
{
	return ((const struct oxa_agent *)agent)->tnames[id].tid == *(const uint32_t *)tid;
}

int oxa_thread_name(struct oxa_agent *a, uint32_t tid, struct oxa_tname **out)
{
	if (ox_index_reserve(&a->itnames, tname_hash, a) < 0)
		return -ENOMEM;
	uint32_t *slot = ox_index_find(&a->itnames, ox_hash_u64(tid), tname_eq, a, &tid);
	if (!*slot) {
		char name[64];
		uint32_t sid;
		int n = read_name(tid, name, sizeof(name));
		if (oxa_grow(&a->tnames, &a->cap_tnames, a->ntnames + 1, sizeof(*a->tnames)) < 0 ||
		    oxa_strtab_intern(&a->strs, name, (size_t)n, &sid) < 0)
			return -ENOMEM;
		a->tnames[a->ntnames] = (struct oxa_tname){ .tid = tid, .name = sid };
		ox_index_add(&a->itnames, slot, (uint32_t)a->ntnames++);
	}
	*out = &a->tnames[*slot - 1];
	return 0;
}
