/*
 * batch.c - pending stacks -> SAMPLES frames (drain thread).
 *
 * Frames and strings are defined on the wire the first time a connection
 * needs them; threads likewise.  A flush may need several frames to stay
 * inside the protocol limits; each is acknowledged on its own.
 *
 * Every frame sent goes into the delivery log (agent.h, oxa_held) until
 * the daemon says it is durable; the log is settled here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

/* Cut a frame well before the decoder's limits. */
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
	struct oxp_stack *stacks;
	struct oxa_held_rec *recs;  /* the table entry of each stack */
	size_t nstacks;
	uint32_t *ids;
	size_t nids, cap_ids;
	size_t objects;
	size_t bytes;         /* an upper bound of the encoded size */
};

static int grow(void *pp, size_t *cap, size_t need, size_t sz)
{
	void **p = pp;
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * sz);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
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
	if (grow(&b->strs, &b->cap_strs, b->nstrs + 1, sizeof(*b->strs)) < 0)
		return -ENOMEM;
	b->strs[b->nstrs++] = (struct oxp_str_def){ id, { a->strs.strs[id], a->strs.lens[id] } };
	b->objects += 3;
	b->bytes += a->strs.lens[id] + 16;
	return 0;
}

static int def_frame(struct oxa_agent *a, struct batch *b, uint32_t id)
{
	int was, r = oxa_gens_defined(&a->frame_gens, id, a->conn.gen, &was);
	if (r < 0 || was)
		return r;
	const struct oxa_frame *f = &a->frames.v[id];
	if ((r = def_string(a, b, f->func)) < 0 || (r = def_string(a, b, f->module)) < 0)
		return r;
	if (grow(&b->frames, &b->cap_frames, b->nframes + 1, sizeof(*b->frames)) < 0)
		return -ENOMEM;
	b->frames[b->nframes++] = (struct oxp_frame_def){ id, f->func, f->module, f->offset };
	b->objects += 5;
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
	if (grow(&b->threads, &b->cap_threads, b->nthreads + 1, sizeof(*b->threads)) < 0)
		return -ENOMEM;
	t->gen = a->conn.gen;
	b->threads[b->nthreads++] = (struct oxp_thread_def){ tid, t->name };
	b->objects += 3;
	return 0;
}

/* Frame ids of one stack, appended to b->ids.  The sampler already moved
 * return addresses (all but the interrupted pc) into their call
 * instruction, so every pc symbolises as it is. */
static int add_stack(struct oxa_agent *a, struct batch *b, const struct oxa_stack_ent *e)
{
	const uintptr_t *ips = oxa_stacks_ips(&a->pending, e);
	int r;
	if (grow(&b->ids, &b->cap_ids, b->nids + e->nframes, sizeof(*b->ids)) < 0)
		return -ENOMEM;
	for (uint16_t i = 0; i < e->nframes; i++) {
		uint32_t id;
		if ((r = oxa_frames_id(&a->frames, ips[i], &id)) < 0 ||
		    (r = def_frame(a, b, id)) < 0)
			return r;
		b->ids[b->nids + i] = id;
	}
	if ((r = def_thread(a, b, e->tid)) < 0)
		return r;
	b->nids += e->nframes;
	b->objects += 5 + e->nframes;
	return 0;
}

/* The log's arrays can take one more batch of n records. */
static int held_reserve(struct oxa_held *h, size_t n)
{
	if (grow(&h->b, &h->cap_b, h->nb + 1, sizeof(*h->b)) < 0 ||
	    grow(&h->r, &h->cap_r, h->nr + n, sizeof(*h->r)) < 0)
		return -ENOMEM;
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
	oxa_state_fill(a, &s->stats, src, sizeof(src));
	struct oxa_held *h = &a->conn.held;
	int r = held_reserve(h, b->nstacks);
	if (r == 0)
		r = oxp_encode(&a->conn.out, &m);
	if (r == 0) {
		/* The seq goes up only for a batch that goes out: the daemon
		 * checks that they rise, and across connections too. */
		a->batch_seq++;
		a->conn.unacked++;
		struct oxa_held_batch *hb = &h->b[h->nb++];
		*hb = (struct oxa_held_batch){ .seq = s->seq, .rec_off = (uint32_t)h->nr,
					       .nrec = (uint32_t)b->nstacks };
		for (size_t i = 0; i < b->nstacks; i++) {
			h->r[h->nr++] = b->recs[i];
			hb->samples += b->recs[i].count;
		}
		uint64_t held = oxa_held_samples(a);
		h->peak_nb = h->nb > h->peak_nb ? h->nb : h->peak_nb;
		h->peak_nr = h->nr > h->peak_nr ? h->nr : h->peak_nr;
		h->peak_samples = held > h->peak_samples ? held : h->peak_samples;
	} else {
		for (size_t i = 0; i < b->nstacks; i++) { /* not sent after all */
			struct oxa_stack_ent *e = &a->pending.ents[b->recs[i].ent];
			e->inflight -= b->recs[i].count;
			e->pending += b->recs[i].count;
		}
	}
	b->nstrs = b->nframes = b->nthreads = b->nstacks = b->nids = 0;
	b->objects = 32;
	b->bytes = 0;
	return r;
}

static void batch_free(struct batch *b)
{
	free(b->strs);
	free(b->frames);
	free(b->threads);
	free(b->stacks);
	free(b->recs);
	free(b->ids);
}

int oxa_batch_queue(struct oxa_agent *a)
{
	struct batch b = { .objects = 32 };
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
	return r;
}

/* ---- the delivery log ---- */

int oxa_held_room(struct oxa_agent *a)
{
	struct oxa_held *h = &a->conn.held;
	if (!h->max_r)
		h->max_r = a->pending.ents_cap * OXA_HELD_PER_ENT;
	size_t need = 0;
	for (size_t i = 0; i < a->pending.nents; i++)
		need += a->pending.ents[i].pending != 0;
	return h->nr + need <= h->max_r;
}

uint64_t oxa_held_samples(const struct oxa_agent *a)
{
	uint64_t n = 0;
	for (size_t i = 0; i < a->conn.held.nb; i++)
		n += a->conn.held.b[i].samples;
	return n;
}

void oxa_held_compact(struct oxa_agent *a)
{
	struct oxa_held *h = &a->conn.held;
	oxa_stacks_compact(&a->pending);
	for (size_t i = 0; i < h->nr; i++)
		h->r[i].ent = a->pending.moved[h->r[i].ent];
}

/* Take batch i's samples out of the table's inflight counts; back into
 * pending when requeue. */
static void release(struct oxa_agent *a, const struct oxa_held_batch *hb, int requeue)
{
	const struct oxa_held_rec *r = a->conn.held.r + hb->rec_off;
	for (uint32_t i = 0; i < hb->nrec; i++) {
		struct oxa_stack_ent *e = &a->pending.ents[r[i].ent];
		e->inflight -= r[i].count;
		if (requeue)
			e->pending += r[i].count;
	}
}

/* Forget the first n batches of the log. */
static void forget(struct oxa_agent *a, size_t n)
{
	struct oxa_held *h = &a->conn.held;
	if (!n)
		return;
	size_t nrec = n < h->nb ? h->b[n].rec_off : h->nr;
	memmove(h->b, h->b + n, (h->nb - n) * sizeof(*h->b));
	h->nb -= n;
	memmove(h->r, h->r + nrec, (h->nr - nrec) * sizeof(*h->r));
	h->nr -= nrec;
	for (size_t i = 0; i < h->nb; i++)
		h->b[i].rec_off -= (uint32_t)nrec;
	oxa_held_compact(a);
}

void oxa_held_durable(struct oxa_agent *a, uint64_t seq)
{
	struct oxa_held *h = &a->conn.held;
	size_t n = 0;
	for (; n < h->nb && h->b[n].seq <= seq; n++) {
		struct oxa_held_batch *hb = &h->b[n];
		/* Without an ack (lost with a connection) the split between
		 * accepted and refused is the daemon's to tell. */
		a->sent += hb->acked ? hb->accepted + hb->refused : hb->samples;
		a->refused += hb->acked ? hb->refused : 0;
		release(a, hb, 0);
	}
	forget(a, n);
}

void oxa_held_ack(struct oxa_agent *a, const struct oxp_samples_ack *k)
{
	struct oxa_held *h = &a->conn.held;
	for (size_t i = 0; i < h->nb; i++)
		if (h->b[i].seq == k->seq) {
			h->b[i].acked = 1;
			h->b[i].accepted = k->accepted;
			h->b[i].refused = k->refused;
			break;
		}
	oxa_held_durable(a, k->durable);
}

void oxa_held_welcome(struct oxa_agent *a, uint64_t durable, uint64_t received)
{
	struct oxa_held *h = &a->conn.held;
	oxa_held_durable(a, durable);
	size_t keep = 0;
	while (keep < h->nb && h->b[keep].seq <= received)
		keep++;
	if (keep == h->nb)
		return;
	/* The daemon never got these (or lost them in a crash): send again. */
	for (size_t i = keep; i < h->nb; i++)
		release(a, &h->b[i], 1);
	h->nr = keep < h->nb ? h->b[keep].rec_off : h->nr;
	h->nb = keep;
}

void oxa_held_abandon(struct oxa_agent *a)
{
	struct oxa_held *h = &a->conn.held;
	for (size_t i = 0; i < h->nb; i++) {
		struct oxa_held_batch *hb = &h->b[i];
		if (hb->acked) {
			a->sent += hb->accepted + hb->refused;
			a->refused += hb->refused;
		} else {
			a->dropped_full += hb->samples;
		}
		release(a, hb, 0);
	}
	h->nb = h->nr = 0;
	oxa_held_compact(a);
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

int oxa_thread_name(struct oxa_agent *a, uint32_t tid, struct oxa_tname **out)
{
	if (!a->tnames || (a->ntnames + 1) * 2 > a->tnames_mask) {
		size_t slots = a->tnames ? (a->tnames_mask + 1) * 2 : 256;
		struct oxa_tname *t = calloc(slots, sizeof(*t));
		if (!t)
			return -ENOMEM;
		for (size_t i = 0; a->tnames && i <= a->tnames_mask; i++) {
			size_t j = a->tnames[i].tid * 2654435761u & (slots - 1);
			while (a->tnames[i].tid && t[j].tid)
				j = (j + 1) & (slots - 1);
			if (a->tnames[i].tid)
				t[j] = a->tnames[i];
		}
		free(a->tnames);
		a->tnames = t;
		a->tnames_mask = slots - 1;
	}
	size_t i = tid * 2654435761u & a->tnames_mask;
	while (a->tnames[i].tid && a->tnames[i].tid != tid)
		i = (i + 1) & a->tnames_mask;
	if (!a->tnames[i].tid) {
		char name[64];
		int n = read_name(tid, name, sizeof(name));
		if (oxa_strtab_intern(&a->strs, name, (size_t)n, &a->tnames[i].name) < 0)
			return -ENOMEM;
		a->tnames[i].tid = tid;
		a->ntnames++;
	}
	*out = &a->tnames[i];
	return 0;
}
