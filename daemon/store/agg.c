/*
 * agg.c - the aggregate's tables and ingest.
 *
 * Every table is a dense array plus an open-addressing index of id + 1
 * (0 = empty), kept at most half full.  Elements store their hash, so the
 * index can grow without touching the keys.
 */
#include "agg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define ARENA_BLOCK (256u << 10)
#define IDX_SLOT 8 /* bytes an index charges per element (half-full slots) */
#define REFUSED UINT32_MAX /* a definition refused over budget */
/* Agents number their definitions densely, but after a reconnect they
 * define only the ids still in use: ids up to 4x the definitions plus
 * this slack go in an array, the rest in a hash. */
#define ID_SLACK 65536u
/* Definitions one connection may make, per kind: bounds the id maps
 * (which are not part of the aggregate) at a few tens of MiB. */
#define MAX_DEFS (4u << 20)

struct oxd_arena {
	struct oxd_arena *next;
	size_t used, cap;
	char data[];
};

/* ---- hashing ---- */

static uint32_t fold(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h;
}

static uint32_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return fold(h);
}

static uint64_t mix(uint64_t h, uint64_t x)
{
	return (h ^ x) * 0x9e3779b97f4a7c15ull + (h >> 29);
}

/* ---- index ---- */

static void idx_destroy(struct oxd_index *x)
{
	free(x->slots);
	memset(x, 0, sizeof(*x));
}

/* Make room for one more element; hashes come from hash_of(ids). */
static void idx_reserve(struct oxd_index *x, const void *base, size_t stride, size_t hash_off)
{
	if (x->slots && (x->n + 1) * 2 <= x->mask + 1)
		return;
	uint32_t cap = x->slots ? (x->mask + 1) * 2 : 64;
	uint32_t *s = oxd_xcalloc(cap, sizeof(*s));
	for (uint32_t i = 0; x->slots && i <= x->mask; i++) {
		uint32_t v = x->slots[i];
		if (!v)
			continue;
		uint32_t h = *(const uint32_t *)((const char *)base + (v - 1) * stride + hash_off);
		uint32_t j = h & (cap - 1);
		while (s[j])
			j = (j + 1) & (cap - 1);
		s[j] = v;
	}
	free(x->slots);
	x->slots = s;
	x->mask = cap - 1;
}

#define IDX_RESERVE(x, arr, field) \
	idx_reserve((x), (arr), sizeof(*(arr)), offsetof(__typeof__(*(arr)), field))

/* ---- strings ---- */

static const char *arena_put(struct oxd_agg *a, const char *p, size_t n)
{
	struct oxd_arena *b = a->arena;
	if (!b || b->cap - b->used < n + 1) {
		size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
		b = oxd_xmalloc(sizeof(*b) + cap);
		b->cap = cap;
		b->used = 0;
		/* A big string gets its own block behind the current one, so the
		 * current block keeps filling. */
		if (a->arena && n + 1 > ARENA_BLOCK) {
			b->next = a->arena->next;
			a->arena->next = b;
		} else {
			b->next = a->arena;
			a->arena = b;
		}
	}
	char *d = b->data + b->used;
	memcpy(d, p, n);
	d[n] = 0;
	b->used += n + 1;
	return d;
}

static uint32_t *str_slot(struct oxd_agg *a, const char *p, size_t n, uint32_t h)
{
	for (uint32_t i = h & a->istrs.mask;; i = (i + 1) & a->istrs.mask) {
		uint32_t v = a->istrs.slots[i];
		if (!v)
			return &a->istrs.slots[i];
		const struct oxd_str *s = &a->strs[v - 1];
		if (s->hash == h && s->len == n && memcmp(s->p, p, n) == 0)
			return &a->istrs.slots[i];
	}
}

static size_t str_cost(size_t n)
{
	return n + 1 + sizeof(struct oxd_str) + IDX_SLOT;
}

/* ---- budgets ---- */

/*
 * The part of a limit the aggregate may fill.  The rest is headroom for
 * what is in transit (a batch being read, replies being written): an agent
 * whose samples fill its budget can still send batches, which are then
 * refused and counted, rather than be cut off.
 */
static uint64_t agg_share(uint64_t limit)
{
	uint64_t room = limit / 8, want = 2 * (uint64_t)OXP_FRAME_MAX + (256u << 10);
	if (room < want)
		room = want < limit / 2 ? want : limit / 2;
	return limit - room;
}

/* Whether cost more bytes for proc would pass the total, the process's or
 * its uid's budget; a refusal is counted. */
static int over(struct oxd_agg *a, struct oxd_proc *p, uint64_t cost)
{
	struct oxd_uacct *u = oxd_budget_uid(&a->bud, p->uid);
	if (oxd_agg_mem_total(a) + cost <= agg_share(a->mem_budget) &&
	    p->mem + cost <= a->proc_budget &&
	    oxd_uacct_mem(u) + cost <= agg_share(a->bud.uid_limit))
		return 0;
	u->refused_mem++;
	a->bud.refused++;
	return 1;
}

/* Charge cost (already in mem_used) to a process and its uid. */
static void charge_proc(struct oxd_agg *a, struct oxd_proc *p, uint64_t cost)
{
	p->mem += cost;
	oxd_budget_uid(&a->bud, p->uid)->agg += cost;
}

int oxd_agg_peer_charge(struct oxd_agg *a, uint32_t uid, uint64_t n)
{
	struct oxd_uacct *u = oxd_budget_uid(&a->bud, uid);
	if (oxd_agg_mem_total(a) + n > a->mem_budget || oxd_uacct_mem(u) + n > a->bud.uid_limit) {
		u->refused_mem++;
		a->bud.refused++;
		return -ENOSPC;
	}
	u->peers += n;
	a->bud.peers += n;
	return 0;
}

void oxd_agg_peer_force(struct oxd_agg *a, uint32_t uid, uint64_t n)
{
	oxd_budget_uid(&a->bud, uid)->peers += n;
	a->bud.peers += n;
}

void oxd_agg_peer_release(struct oxd_agg *a, uint32_t uid, uint64_t n)
{
	struct oxd_uacct *u = oxd_budget_uid(&a->bud, uid);
	u->peers -= n < u->peers ? n : u->peers;
	a->bud.peers -= n < a->bud.peers ? n : a->bud.peers;
}

/* Find or add a string; budget: charge to proc (NULL: no check). */
static uint32_t str_intern(struct oxd_agg *a, const char *p, size_t n, struct oxd_proc *proc)
{
	IDX_RESERVE(&a->istrs, a->strs, hash);
	uint32_t h = hash_bytes(p, n);
	uint32_t *slot = str_slot(a, p, n, h);
	if (*slot)
		return *slot - 1;
	size_t cost = str_cost(n);
	if (proc && over(a, proc, cost))
		return REFUSED;
	oxd_xgrow(&a->strs, &a->cap_strs, a->nstrs + 1, sizeof(*a->strs));
	a->strs[a->nstrs] = (struct oxd_str){ arena_put(a, p, n), (uint32_t)n, h };
	*slot = (uint32_t)++a->nstrs;
	a->istrs.n++;
	a->mem_used += cost;
	if (proc)
		charge_proc(a, proc, cost);
	return (uint32_t)a->nstrs - 1;
}

uint32_t oxd_agg_str(struct oxd_agg *a, const char *p, size_t len)
{
	return str_intern(a, p ? p : "", p ? len : 0, NULL);
}

/* ---- functions and frames ---- */

static uint32_t fn_intern(struct oxd_agg *a, uint32_t func, uint32_t module)
{
	IDX_RESERVE(&a->ifns, a->fns, hash);
	uint32_t h = fold(mix(mix(0, func), module));
	uint32_t i = h & a->ifns.mask;
	for (;; i = (i + 1) & a->ifns.mask) {
		uint32_t v = a->ifns.slots[i];
		if (!v)
			break;
		const struct oxd_fn *f = &a->fns[v - 1];
		if (f->hash == h && f->func == func && f->module == module)
			return v - 1;
	}
	oxd_xgrow(&a->fns, &a->cap_fns, a->nfns + 1, sizeof(*a->fns));
	a->fns[a->nfns] = (struct oxd_fn){ func, module, h, 0, 0, 0, OXD_NONE };
	a->ifns.slots[i] = (uint32_t)++a->nfns;
	a->ifns.n++;
	a->mem_used += sizeof(struct oxd_fn) + IDX_SLOT;
	return (uint32_t)a->nfns - 1;
}

static uint32_t frame_intern(struct oxd_agg *a, uint32_t func, uint32_t module, uint64_t off,
			     struct oxd_proc *proc)
{
	IDX_RESERVE(&a->iframes, a->frames, hash);
	uint32_t h = fold(mix(mix(mix(0, func), module), off));
	uint32_t i = h & a->iframes.mask;
	for (;; i = (i + 1) & a->iframes.mask) {
		uint32_t v = a->iframes.slots[i];
		if (!v)
			break;
		const struct oxd_frame *f = &a->frames[v - 1];
		if (f->hash == h && f->func == func && f->module == module && f->offset == off)
			return v - 1;
	}
	size_t cost = sizeof(struct oxd_frame) + IDX_SLOT + sizeof(struct oxd_fn) + IDX_SLOT;
	if (proc && over(a, proc, cost))
		return REFUSED;
	uint32_t fn = fn_intern(a, func, module);
	if (a->fns[fn].frame == OXD_NONE)
		a->fns[fn].frame = (uint32_t)a->nframes;
	oxd_xgrow(&a->frames, &a->cap_frames, a->nframes + 1, sizeof(*a->frames));
	a->frames[a->nframes] = (struct oxd_frame){ func, module, off, fn, h };
	a->iframes.slots[i] = (uint32_t)++a->nframes;
	a->iframes.n++;
	a->mem_used += sizeof(struct oxd_frame) + IDX_SLOT;
	if (proc)
		charge_proc(a, proc, cost);
	return (uint32_t)a->nframes - 1;
}

uint32_t oxd_agg_frame(struct oxd_agg *a, uint32_t func, uint32_t module, uint64_t offset)
{
	return frame_intern(a, func, module, offset, NULL);
}

/* ---- threads ---- */

/* Find or add a thread; a new one is charged to budget (NULL: no check). */
static uint32_t thread_intern(struct oxd_agg *a, uint32_t proc, uint32_t tid, uint32_t name,
			      struct oxd_proc *budget)
{
	IDX_RESERVE(&a->ithreads, a->threads, hash);
	uint32_t h = fold(mix(mix(1, proc), tid));
	uint32_t i = h & a->ithreads.mask;
	for (;; i = (i + 1) & a->ithreads.mask) {
		uint32_t v = a->ithreads.slots[i];
		if (!v)
			break;
		struct oxd_thread *t = &a->threads[v - 1];
		if (t->hash == h && t->proc == proc && t->tid == tid) {
			t->name = name; /* renamed threads show their latest name */
			return v - 1;
		}
	}
	size_t cost = sizeof(struct oxd_thread) + IDX_SLOT;
	if (budget && over(a, budget, cost))
		return REFUSED;
	oxd_xgrow(&a->threads, &a->cap_threads, a->nthreads + 1, sizeof(*a->threads));
	a->threads[a->nthreads] = (struct oxd_thread){ proc, tid, name, h };
	a->ithreads.slots[i] = (uint32_t)++a->nthreads;
	a->ithreads.n++;
	a->mem_used += cost;
	charge_proc(a, &a->procs[proc], cost);
	return (uint32_t)a->nthreads - 1;
}

uint32_t oxd_agg_thread(struct oxd_agg *a, uint32_t proc, uint32_t tid, uint32_t name)
{
	return thread_intern(a, proc, tid, name, NULL);
}

/* ---- stacks and entries ---- */

static uint32_t stack_hash(const uint32_t *f, uint32_t n)
{
	uint64_t h = n;
	for (uint32_t i = 0; i < n; i++)
		h = mix(h, f[i]);
	return fold(h);
}

/* The slot for this stack: holding its id + 1, or empty. */
static uint32_t *stack_slot(struct oxd_agg *a, const uint32_t *f, uint32_t n, uint32_t h)
{
	for (uint32_t i = h & a->istacks.mask;; i = (i + 1) & a->istacks.mask) {
		uint32_t v = a->istacks.slots[i];
		if (!v)
			return &a->istacks.slots[i];
		const struct oxd_stack *s = &a->stacks[v - 1];
		if (s->hash == h && s->n == n &&
		    memcmp(a->stack_frames + s->off, f, n * sizeof(*f)) == 0)
			return &a->istacks.slots[i];
	}
}

static uint32_t stack_add(struct oxd_agg *a, uint32_t *slot, const uint32_t *f, uint32_t n,
			  uint32_t h)
{
	oxd_xgrow(&a->stack_frames, &a->cap_stack_frames, a->nstack_frames + n,
		  sizeof(*a->stack_frames));
	memcpy(a->stack_frames + a->nstack_frames, f, n * sizeof(*f));
	oxd_xgrow(&a->stacks, &a->cap_stacks, a->nstacks + 1, sizeof(*a->stacks));
	a->stacks[a->nstacks] = (struct oxd_stack){ a->nstack_frames, n, h, 0 };
	a->nstack_frames += n;
	*slot = (uint32_t)++a->nstacks;
	a->istacks.n++;
	return (uint32_t)a->nstacks - 1;
}

static uint32_t entry_hash(uint32_t thread, uint32_t stack)
{
	return fold(((uint64_t)thread << 32 | stack) * 0x9e3779b97f4a7c15ull);
}

static uint32_t *entry_slot(struct oxd_agg *a, uint32_t thread, uint32_t stack)
{
	uint32_t h = entry_hash(thread, stack);
	for (uint32_t i = h & a->ientries.mask;; i = (i + 1) & a->ientries.mask) {
		uint32_t v = a->ientries.slots[i];
		if (!v)
			return &a->ientries.slots[i];
		const struct oxd_entry *e = &a->entries[v - 1];
		if (e->thread == thread && e->stack == stack)
			return &a->ientries.slots[i];
	}
}

/* Entries store no hash; grow their index by recomputing it. */
static void entries_reserve(struct oxd_agg *a)
{
	struct oxd_index *x = &a->ientries;
	if (x->slots && (x->n + 1) * 2 <= x->mask + 1)
		return;
	uint32_t cap = 64;
	while ((a->nentries + 1) * 2 > cap)
		cap *= 2;
	free(x->slots);
	x->n = (uint32_t)a->nentries;
	x->slots = oxd_xcalloc(cap, sizeof(uint32_t));
	x->mask = cap - 1;
	for (size_t id = 0; id < a->nentries; id++)
		*entry_slot(a, a->entries[id].thread, a->entries[id].stack) = (uint32_t)id + 1;
}

uint32_t oxd_agg_next_mark(struct oxd_agg *a)
{
	if (++a->mark_gen == 0) { /* wrapped: old marks could collide */
		for (size_t i = 0; i < a->nfns; i++)
			a->fns[i].mark = 0;
		a->mark_gen = 1;
	}
	return a->mark_gen;
}

/* Count a sample (times count) of a stack in the per-function totals. */
static void count_fns(struct oxd_agg *a, uint32_t stack, uint64_t count)
{
	const struct oxd_stack *s = &a->stacks[stack];
	const uint32_t *f = a->stack_frames + s->off;
	uint32_t m = oxd_agg_next_mark(a);
	for (uint32_t i = 0; i < s->n; i++) {
		struct oxd_fn *fn = &a->fns[a->frames[f[i]].fn];
		if (i == 0)
			fn->self += count;
		if (fn->mark != m) {
			fn->mark = m;
			fn->total += count;
		}
	}
}

/*
 * Add count samples of (thread, frames) for proc, within budgets (proc
 * NULL: none).  Returns 0 or -ENOSPC (refused: over a budget).
 */
static int add_sample(struct oxd_agg *a, struct oxd_proc *proc, uint32_t thread,
		      const uint32_t *f, uint32_t n, uint64_t count)
{
	IDX_RESERVE(&a->istacks, a->stacks, hash);
	entries_reserve(a);
	uint32_t h = stack_hash(f, n);
	uint32_t *slot = stack_slot(a, f, n, h);
	uint32_t stack = *slot ? *slot - 1 : OXD_NONE;
	uint32_t *eslot = stack != OXD_NONE ? entry_slot(a, thread, stack) : NULL;
	size_t cost = 0;
	if (stack == OXD_NONE)
		cost += sizeof(struct oxd_stack) + IDX_SLOT + n * sizeof(uint32_t);
	if (!eslot || !*eslot)
		cost += sizeof(struct oxd_entry) + IDX_SLOT;
	if (cost && proc && over(a, proc, cost))
		return -ENOSPC;
	if (stack == OXD_NONE) {
		stack = stack_add(a, slot, f, n, h);
		eslot = entry_slot(a, thread, stack);
	}
	if (!*eslot) {
		oxd_xgrow(&a->entries, &a->cap_entries, a->nentries + 1, sizeof(*a->entries));
		a->entries[a->nentries] = (struct oxd_entry){ thread, stack, 0 };
		*eslot = (uint32_t)++a->nentries;
		a->ientries.n++;
	}
	a->mem_used += cost;
	charge_proc(a, &a->procs[a->threads[thread].proc], cost);
	a->entries[*eslot - 1].count += count;
	a->stacks[stack].count += count;
	count_fns(a, stack, count);
	return 0;
}

void oxd_agg_restore_entry(struct oxd_agg *a, uint32_t thread, const uint32_t *frames,
			   uint32_t n, uint64_t count)
{
	add_sample(a, NULL, thread, frames, n, count);
}

/* ---- processes ---- */

static int str_is(const struct oxd_agg *a, uint32_t id, struct oxp_str s)
{
	return a->strs[id].len == s.len && memcmp(a->strs[id].p, s.ptr, s.len) == 0;
}

/* Whether an exited row is the process that is joining again. */
static int same_process(const struct oxd_agg *a, const struct oxd_proc *p,
			const struct oxd_ident *id)
{
	/* A claim never takes over a row; after an exec the pid and start
	 * time stay but the program is another one: a new row. */
	if (p->live || p->pid != id->pid || p->claimed || id->claimed ||
	    !str_is(a, p->exe, id->exe))
		return 0;
	/* A row from a snapshot has no start time: pid and exe must do. */
	return !p->start_time || !id->start_time || p->start_time == id->start_time;
}

int oxd_agg_proc_attach(struct oxd_agg *a, const struct oxd_ident *id, uint64_t now_ms,
			uint32_t *proc)
{
	size_t i;
	/* The row of this very agent instance, coming back, above all: its
	 * batch seqs must continue there (PROTOCOL.md, DURABLE). */
	for (i = 0; id->instance && i < a->nprocs; i++)
		if (!a->procs[i].live && a->procs[i].pid == id->pid &&
		    a->procs[i].uid == id->uid && a->procs[i].instance == id->instance &&
		    !a->procs[i].removed)
			break;
	if (!id->instance || i == a->nprocs)
		for (i = 0; i < a->nprocs; i++)
			if (same_process(a, &a->procs[i], id))
				break;
	struct oxd_proc probe = { .uid = id->uid };
	if (i == a->nprocs) {
		/* Reuse a forgotten row of any process before adding one. */
		for (i = 0; i < a->nprocs; i++)
			if (a->procs[i].removed && !a->procs[i].live && !a->procs[i].mem)
				break;
	}
	struct oxd_proc *p = i < a->nprocs ? &a->procs[i] : &probe;
	if (i == a->nprocs && over(a, p, sizeof(struct oxd_proc)))
		return -ENOSPC;
	if (i == a->nprocs) {
		oxd_xgrow(&a->procs, &a->cap_procs, a->nprocs + 1, sizeof(*a->procs));
		a->nprocs++;
		memset(&a->procs[i], 0, sizeof(a->procs[i]));
		a->procs[i].removed = 1;
		a->procs[i].uid = id->uid;
		a->mem_used += sizeof(struct oxd_proc);
		charge_proc(a, &a->procs[i], sizeof(struct oxd_proc));
	}
	p = &a->procs[i];
	int fresh = p->removed;
	if (p->removed) { /* a fresh row, or one reset forgot */
		uint64_t mem = p->mem;
		memset(p, 0, sizeof(*p));
		p->mem = mem;
	}
	p->uid = id->uid;
	uint32_t exe = str_intern(a, id->exe.ptr ? id->exe.ptr : "", id->exe.len, p);
	uint32_t cmd = str_intern(a, id->cmdline.ptr ? id->cmdline.ptr : "", id->cmdline.len, p);
	if (exe == REFUSED || cmd == REFUSED) {
		p->removed = (uint8_t)fresh; /* a fresh row stays for reuse */
		return -ENOSPC;
	}
	p->pid = id->pid;
	p->exe = exe;
	p->cmdline = cmd;
	p->claimed = (uint8_t)!!id->claimed;
	p->start_time = id->start_time;
	p->live = 1;
	p->state = OXP_AGENT_PAUSED;
	p->connected_ms = now_ms;
	*proc = (uint32_t)i;
	return 0;
}

void oxd_agg_proc_detach(struct oxd_agg *a, uint32_t proc)
{
	a->procs[proc].live = 0;
	a->procs[proc].state = OXP_AGENT_EXITED;
}

void oxd_agg_proc_stats(struct oxd_agg *a, uint32_t proc, const struct oxp_agent_stats *st)
{
	struct oxd_proc *p = &a->procs[proc];
	p->state = st->state;
	p->mode = st->mode;
	p->hz_requested = st->hz_requested;
	p->hz_achieved = st->hz_achieved;
	size_t n = st->source.len < sizeof(p->source) - 1 ? st->source.len : sizeof(p->source) - 1;
	memcpy(p->source, st->source.ptr, n);
	p->source[n] = 0;
	p->dropped_agent = st->dropped;
	p->unwind_fail = st->unwind_fail;
	p->taken = st->taken;
	p->sent = st->sent;
}

uint32_t oxd_agg_restore_proc(struct oxd_agg *a, const struct oxd_proc *p)
{
	oxd_xgrow(&a->procs, &a->cap_procs, a->nprocs + 1, sizeof(*a->procs));
	a->procs[a->nprocs] = *p;
	a->procs[a->nprocs].live = 0;
	a->procs[a->nprocs].mem = 0;
	a->mem_used += sizeof(struct oxd_proc);
	return (uint32_t)a->nprocs++;
}

/* ---- ingest ---- */

void oxd_ingest_init(struct oxd_ingest *g, uint32_t proc)
{
	memset(g, 0, sizeof(*g));
	g->proc = proc;
}

static void idmap_destroy(struct oxd_idmap *m)
{
	free(m->dense);
	free(m->sparse);
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

static uint64_t *sparse_slot(const struct oxd_idmap *m, uint32_t id)
{
	for (uint32_t i = fold(id * 0x9e3779b97f4a7c15ull) & m->mask;; i = (i + 1) & m->mask)
		if (!m->sparse[i] || (uint32_t)(m->sparse[i] >> 32) == id)
			return &m->sparse[i];
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
	if (!m->sparse || (m->n + 1) * 2 > m->mask + 1) {
		uint64_t *old = m->sparse;
		uint32_t n = old ? m->mask + 1 : 0;
		uint32_t cap = n ? n * 2 : 16;
		/* The new table is charged; the old one's charge moves to it. */
		if (map_charge(a, g, (uint64_t)(cap - n) * sizeof(*m->sparse)) < 0)
			return -ENOSPC;
		m->mask = cap - 1;
		m->sparse = oxd_xcalloc((size_t)m->mask + 1, sizeof(*m->sparse));
		for (uint32_t i = 0; i < n; i++)
			if (old[i])
				*sparse_slot(m, (uint32_t)(old[i] >> 32)) = old[i];
		free(old);
	}
	uint64_t *slot = sparse_slot(m, id);
	if (!*slot)
		m->n++;
	*slot = (uint64_t)id << 32 | val;
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
			oxd_xgrow(&m->dense, &m->cap, cap, sizeof(*m->dense));
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
	return m->sparse ? (uint32_t)*sparse_slot(m, id) : 0;
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
		uint32_t id = str_intern(a, d->str.ptr, d->str.len, p);
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
			    : frame_intern(a, fu - 1, mo - 1, d->offset, p);
		if (map_set(a, g, &g->frames, d->id, id == REFUSED ? REFUSED : id + 1, 1) < 0)
			return -ENOSPC;
	}
	for (uint32_t i = 0; i < s->nthreads; i++) {
		uint32_t nm = map_get(&g->strs, s->threads[i].name);
		if (!nm)
			return -OXP_ESHAPE;
		uint32_t t = thread_intern(a, g->proc, s->threads[i].tid, nm == REFUSED ? 0 : nm - 1, p);
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
			struct oxd_proc *p)
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
	return add_sample(a, p, t - 1, f, st->nframes, st->count) == 0;
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
	int r = define(a, g, s, p);
	if (r == 0)
		r = check_refs(g, s);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < s->nstacks; i++) {
		uint64_t c = s->stacks[i].count;
		if (!c)
			continue;
		/* Every count the aggregate keeps is at most a->samples, so
		 * keeping that from wrapping keeps them all: refuse, and count. */
		if (c <= UINT64_MAX - a->samples - *accepted && ingest_stack(a, g, &s->stacks[i], p))
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
	if (*accepted && !p->first_ms)
		p->first_ms = now_ms;
	if (*accepted)
		p->last_ms = now_ms;
	p->last_batch_ms = now_ms;
	oxd_agg_proc_stats(a, g->proc, &s->stats);
	return 0;
}

/* ---- reset ---- */

/* What the dictionary (strings, frames, functions, threads) costs. */
static uint64_t dict_cost(const struct oxd_agg *a)
{
	uint64_t m = 0;
	for (size_t i = 0; i < a->nstrs; i++)
		m += str_cost(a->strs[i].len);
	m += a->nframes * (sizeof(struct oxd_frame) + IDX_SLOT);
	m += a->nfns * (sizeof(struct oxd_fn) + IDX_SLOT);
	m += a->nthreads * (sizeof(struct oxd_thread) + IDX_SLOT);
	return m;
}

/* Recount stacks and functions from the entries that are left. */
static void recount(struct oxd_agg *a)
{
	for (size_t i = 0; i < a->nstacks; i++)
		a->stacks[i].count = 0;
	for (size_t i = 0; i < a->nfns; i++)
		a->fns[i].self = a->fns[i].total = 0;
	for (size_t i = 0; i < a->nentries; i++) {
		a->stacks[a->entries[i].stack].count += a->entries[i].count;
		count_fns(a, a->entries[i].stack, a->entries[i].count);
	}
}

static void forget_proc(struct oxd_agg *a, struct oxd_proc *p)
{
	a->samples -= p->samples;
	a->dropped -= p->dropped_daemon;
	p->samples = p->dropped_daemon = 0;
	p->first_ms = p->last_ms = 0;
	p->mem = 0;
	if (!p->live)
		p->removed = 1;
}

uint32_t oxd_agg_reset(struct oxd_agg *a, int (*proc_match)(const struct oxd_proc *, void *),
		       void *arg)
{
	uint32_t cleared = 0;
	uint8_t *hit = oxd_xcalloc(a->nprocs + 1, 1);
	for (size_t i = 0; i < a->nprocs; i++) {
		if (a->procs[i].removed || (proc_match && !proc_match(&a->procs[i], arg)))
			continue;
		hit[i] = 1;
		cleared++;
		struct oxd_uacct *u = oxd_budget_uid(&a->bud, a->procs[i].uid);
		u->agg -= a->procs[i].mem < u->agg ? a->procs[i].mem : u->agg;
		forget_proc(a, &a->procs[i]);
	}
	size_t kept = 0;
	if (proc_match) {
		for (size_t i = 0; i < a->nentries; i++)
			if (!hit[a->threads[a->entries[i].thread].proc])
				a->entries[kept++] = a->entries[i];
	} else {
		a->nstacks = a->nstack_frames = 0;
		idx_destroy(&a->istacks);
		/* What is left (the dictionary, live rows) is nobody's now. */
		for (size_t i = 0; i < a->bud.nuids; i++)
			a->bud.uids[i].agg = 0;
	}
	free(hit);
	a->nentries = kept;
	idx_destroy(&a->ientries);
	entries_reserve(a);
	recount(a);
	uint64_t m = dict_cost(a);
	for (size_t i = 0; i < a->nstacks; i++)
		m += sizeof(struct oxd_stack) + IDX_SLOT + a->stacks[i].n * sizeof(uint32_t);
	a->mem_used = m + a->nentries * (sizeof(struct oxd_entry) + IDX_SLOT) +
		      a->nprocs * sizeof(struct oxd_proc);
	a->generation++;
	return cleared;
}

/* ---- selectors ---- */

static int exe_match(const struct oxd_agg *a, uint32_t exe, struct oxp_str want)
{
	const struct oxd_str *s = &a->strs[exe];
	if (s->len == want.len && memcmp(s->p, want.ptr, want.len) == 0)
		return 1;
	const char *base = strrchr(s->p, '/');
	base = base ? base + 1 : s->p;
	return strlen(base) == want.len && memcmp(base, want.ptr, want.len) == 0;
}

int oxd_agg_proc_match(const struct oxd_agg *a, const struct oxd_proc *p,
		       const struct oxp_selector *sel)
{
	if (p->removed)
		return 0;
	if (sel->exe.len && (p->claimed || !exe_match(a, p->exe, sel->exe)))
		return 0;
	if (!sel->npids)
		return 1;
	for (uint32_t i = 0; i < sel->npids; i++)
		if (sel->pids[i] == p->pid)
			return 1;
	return 0;
}

/* ---- init ---- */

void oxd_agg_init(struct oxd_agg *a, uint64_t mem_budget, uint64_t proc_budget)
{
	memset(a, 0, sizeof(*a));
	a->mem_budget = mem_budget;
	a->proc_budget = proc_budget;
	a->bud.uid_limit = mem_budget;
	oxd_agg_str(a, "", 0); /* string 0 is "", for unnamed things */
}

void oxd_agg_destroy(struct oxd_agg *a)
{
	while (a->arena) {
		struct oxd_arena *n = a->arena->next;
		free(a->arena);
		a->arena = n;
	}
	idx_destroy(&a->istrs);
	idx_destroy(&a->iframes);
	idx_destroy(&a->ifns);
	idx_destroy(&a->istacks);
	idx_destroy(&a->ithreads);
	idx_destroy(&a->ientries);
	free(a->strs);
	free(a->frames);
	free(a->fns);
	free(a->stacks);
	free(a->stack_frames);
	free(a->threads);
	free(a->entries);
	free(a->procs);
	oxd_budget_destroy(&a->bud);
	memset(a, 0, sizeof(*a));
}
