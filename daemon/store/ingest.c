/*
 * ingest.c - one SAMPLES batch into the aggregate: the connection's id
 * maps (agents choose their own ids), definitions, reference checks, and
 * the stacks counted within budgets.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ox/index.h"
#include "ox/xalloc.h"

/* Agents number their definitions densely, but after a reconnect they
 * define only the ids still in use: ids up to 4x the definitions plus
 * this slack go in an array, the rest in a hash. */
#define ID_SLACK 65536u
/* Definitions one connection may make, per kind: bounds the id maps
 * (which are not part of the aggregate) at a few tens of MiB. */
#define MAX_DEFS (4u << 20)

void oxd_ingest_init(struct oxd_ingest *g, uint32_t proc)
{
	memset(g, 0, sizeof(*g));
	g->proc = proc;
}

static void idmap_destroy(struct oxd_idmap *m)
{
	free(m->dense);
	free(m->pairs);
	ox_index_destroy(&m->ipairs);
}

void oxd_ingest_destroy(struct oxd_agg *a, struct oxd_ingest *g)
{
	idmap_destroy(&g->strs);
	idmap_destroy(&g->frames);
	idmap_destroy(&g->tids);
	if (g->mem && g->proc < a->nprocs)
		oxd_agg_peer_release(a, a->procs[g->proc].uid, g->mem);
	memset(g, 0, sizeof(*g));
}

static uint32_t pair_hash(const void *map, uint32_t i)
{
	return ox_hash_u64(((const struct oxd_idmap *)map)->pairs[i].id);
}

static int pair_eq(const void *map, uint32_t i, const void *id)
{
	return ((const struct oxd_idmap *)map)->pairs[i].id == *(const uint32_t *)id;
}

/* Charge n more bytes of the connection's maps to its uid: 0 or -ENOSPC. */
static int map_charge(struct oxd_agg *a, struct oxd_ingest *g, uint64_t n)
{
	int r = oxd_agg_peer_charge(a, a->procs[g->proc].uid, n);
	if (r == 0)
		g->mem += n;
	return r;
}

static int sparse_set(struct oxd_agg *a, struct oxd_ingest *g, struct oxd_idmap *m,
		      uint32_t id, uint32_t val)
{
	/* Charged per slot: the slot and its share of the pairs (at most
	 * half as many) fit in 8 bytes. */
	uint32_t grow = ox_index_growth(&m->ipairs);
	if (grow && map_charge(a, g, (uint64_t)grow * 8) < 0)
		return -ENOSPC;
	ox_xindex_reserve(&m->ipairs, pair_hash, m);
	uint32_t *slot = ox_index_find(&m->ipairs, ox_hash_u64(id), pair_eq, m, &id);
	if (*slot) {
		m->pairs[*slot - 1].val = val;
		return 0;
	}
	ox_xgrow(&m->pairs, &m->cap_pairs, m->npairs + 1, sizeof(*m->pairs));
	m->pairs[m->npairs] = (struct oxd_idpair){ id, val };
	ox_index_add(&m->ipairs, slot, (uint32_t)m->npairs++);
	return 0;
}

/* map[id] = val (global id + 1, or REFUSED).  dense: ids this low may use
 * the array, which grows to at most 4x the definitions (plus slack).
 * 0, or -ENOSPC when the map's growth would pass a budget. */
static int map_set(struct oxd_agg *a, struct oxd_ingest *g, struct oxd_idmap *m, uint32_t id,
		   uint32_t val, int dense)
{
	m->ndefs++;
	if (dense && (id < m->cap || (uint64_t)id < (uint64_t)m->ndefs * 4 + ID_SLACK)) {
		if (id >= m->cap) {
			size_t cap = m->cap ? m->cap : 16;
			while (cap <= id)
				cap *= 2;
			if (map_charge(a, g, (cap - m->cap) * sizeof(*m->dense)) < 0)
				return -ENOSPC;
			ox_xgrow(&m->dense, &m->cap, cap, sizeof(*m->dense));
		}
		m->dense[id] = val;
		return 0;
	}
	return sparse_set(a, g, m, id, val);
}

static inline uint32_t map_get(const struct oxd_idmap *m, uint32_t id)
{
	if (id < m->cap && m->dense[id])
		return m->dense[id];
	if (!m->ipairs.slots)
		return 0;
	const uint32_t *slot = ox_index_find(&m->ipairs, ox_hash_u64(id), pair_eq, m, &id);
	return *slot ? m->pairs[*slot - 1].val : 0;
}

/* Strings, frames and threads the batch defines.  0, -OXP_ESHAPE,
 * -OXP_ELIMIT past MAX_DEFS definitions on one connection, or -ENOSPC when
 * the maps would pass a budget. */
static int define(struct oxd_agg *a, struct oxd_ingest *g, const struct oxp_samples *s,
		  struct oxd_proc *p)
{
	if ((uint64_t)g->strs.ndefs + s->nstrings > MAX_DEFS ||
	    (uint64_t)g->frames.ndefs + s->nframes > MAX_DEFS ||
	    (uint64_t)g->tids.ndefs + s->nthreads > MAX_DEFS)
		return -OXP_ELIMIT;
	for (uint32_t i = 0; i < s->nstrings; i++) {
		const struct oxp_str_def *d = &s->strings[i];
		uint32_t id = oxd__str_intern(a, d->str.ptr, d->str.len, p);
		if (map_set(a, g, &g->strs, d->id, id == REFUSED ? REFUSED : id + 1, 1) < 0)
			return -ENOSPC;
	}
	for (uint32_t i = 0; i < s->nframes; i++) {
		const struct oxp_frame_def *d = &s->frames[i];
		uint32_t fu = map_get(&g->strs, d->func);
		uint32_t mo = map_get(&g->strs, d->module);
		if (!fu || !mo)
			return -OXP_ESHAPE;
		uint32_t id = fu == REFUSED || mo == REFUSED ? REFUSED
			    : oxd__frame_intern(a, fu - 1, mo - 1, d->offset, p);
		if (map_set(a, g, &g->frames, d->id, id == REFUSED ? REFUSED : id + 1, 1) < 0)
			return -ENOSPC;
	}
	for (uint32_t i = 0; i < s->nmodules; i++) {
		uint32_t mo = map_get(&g->strs, s->modules[i].module);
		if (!mo)
			return -OXP_ESHAPE;
		if (mo != REFUSED)
			oxd__module_set(a, p, mo - 1, s->modules[i].build_id.ptr,
					s->modules[i].build_id.len, s->modules[i].load);
	}
	for (uint32_t i = 0; i < s->nthreads; i++) {
		uint32_t nm = map_get(&g->strs, s->threads[i].name);
		if (!nm)
			return -OXP_ESHAPE;
		uint32_t t = oxd__thread_intern(a, g->proc, s->threads[i].tid,
						nm == REFUSED ? 0 : nm - 1, p);
		if (map_set(a, g, &g->tids, s->threads[i].tid, t == REFUSED ? REFUSED : t + 1, 0) < 0)
			return -ENOSPC;
	}
	return 0;
}

/* Every id the stacks use is defined: checked before anything is counted. */
static int check_refs(const struct oxd_ingest *g, const struct oxp_samples *s)
{
	for (uint32_t i = 0; i < s->nstacks; i++) {
		const struct oxp_stack *st = &s->stacks[i];
		if (!map_get(&g->tids, st->tid))
			return -OXP_ESHAPE;
		for (uint32_t j = 0; j < st->nframes; j++)
			if (!map_get(&g->frames, st->frames[j]))
				return -OXP_ESHAPE;
	}
	return 0;
}

/* Count one stack of the batch; 1 accepted, 0 refused. */
static int ingest_stack(struct oxd_agg *a, struct oxd_ingest *g, const struct oxp_stack *st,
			struct oxd_proc *p, uint32_t when)
{
	uint32_t t = map_get(&g->tids, st->tid), f[OXP_MAX_DEPTH];
	if (t == REFUSED)
		return 0;
	for (uint32_t j = 0; j < st->nframes; j++) {
		f[j] = map_get(&g->frames, st->frames[j]);
		if (f[j] == REFUSED)
			return 0;
		/* Stacks are paths of functions: pcs in one function are one. */
		f[j] = a->fns[a->frames[f[j] - 1].fn].frame;
	}
	uint32_t e;
	if (oxd__add_sample(a, p, t - 1, f, st->nframes, st->count, &e) < 0)
		return 0;
	oxd__hist_add(a, when, e, st->count);
	return 1;
}

static uint64_t sat_add(uint64_t x, uint64_t y)
{
	return x > UINT64_MAX - y ? UINT64_MAX : x + y;
}

int oxd_agg_ingest(struct oxd_agg *a, struct oxd_ingest *g, const struct oxp_samples *s,
		   uint64_t now_ms, uint64_t *accepted, uint64_t *refused)
{
	struct oxd_proc *p = &a->procs[g->proc];
	*accepted = *refused = 0;
	a->dirty++; /* even a refused batch may have interned its strings */
	int r = define(a, g, s, p);
	if (r == 0)
		r = check_refs(g, s);
	if (r < 0)
		return r;
	/* When the agent took them (a batch held over a daemon restart was
	 * taken long before it arrived), never later than now; unknown or
	 * nonsense (first after last) is now. */
	uint64_t first = s->first_ms, last = s->last_ms;
	if (!first || !last || first > last)
		first = last = now_ms;
	if (last > now_ms)
		last = now_ms;
	if (first > last)
		first = last;
	/* The batch's samples go in the slot of its last sample: batches
	 * span one flush interval, far less than a slot. */
	uint32_t when = s->nstacks ? oxd__hist_slot(a, last, now_ms) : UINT32_MAX;
	for (uint32_t i = 0; i < s->nstacks; i++) {
		uint64_t c = s->stacks[i].count;
		if (!c)
			continue;
		/* Every count the aggregate keeps is at most a->samples, so
		 * keeping that from wrapping keeps them all: refuse, and count. */
		if (c <= UINT64_MAX - a->samples - *accepted && ingest_stack(a, g, &s->stacks[i], p, when))
			*accepted += c;
		else
			*refused += c;
	}
	p->samples += *accepted;
	struct oxd_uacct *ub = oxd_budget_uid(&a->bud, p->uid);
	ub->dropped = sat_add(ub->dropped, *refused);
	a->samples += *accepted;
	p->dropped_daemon = sat_add(p->dropped_daemon, *refused);
	a->dropped = sat_add(a->dropped, *refused);
	if (*accepted && (!p->first_ms || first < p->first_ms))
		p->first_ms = first;
	if (*accepted && last > p->last_ms)
		p->last_ms = last;
	p->last_batch_ms = now_ms;
	oxd_agg_proc_stats(a, g->proc, &s->stats);
	return 0;
}
