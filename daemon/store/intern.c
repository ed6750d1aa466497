/*
 * intern.c - the aggregate's tables, made empty, filled and freed:
 * strings (in an arena), functions, frames, threads, stacks and (thread,
 * stack) entries, each a dense array with an ox_index over it, and the
 * samples counted into them.  Elements
 * store their hash (entries recompute it), so an index grows without
 * touching the keys.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ox/index.h"
#include "ox/xalloc.h"

#define ARENA_BLOCK (256u << 10)

struct oxd_arena {
	struct oxd_arena *next;
	size_t used, cap;
	char data[];
};

/* ---- strings ---- */

static const char *arena_put(struct oxd_agg *a, const char *p, size_t n)
{
	struct oxd_arena *b = a->arena;
	if (!b || b->cap - b->used < n + 1) {
		size_t cap = n + 1 > ARENA_BLOCK ? n + 1 : ARENA_BLOCK;
		b = ox_xmalloc(sizeof(*b) + cap);
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

static void arena_free(struct oxd_agg *a)
{
	while (a->arena) {
		struct oxd_arena *n = a->arena->next;
		free(a->arena);
		a->arena = n;
	}
}

struct str_key {
	const char *p;
	size_t n;
	uint32_t h;
};

static uint32_t str_hash(const void *agg, uint32_t id)
{
	return ((const struct oxd_agg *)agg)->strs[id].hash;
}

static int str_eq(const void *agg, uint32_t id, const void *key)
{
	const struct oxd_str *s = &((const struct oxd_agg *)agg)->strs[id];
	const struct str_key *k = key;
	return s->hash == k->h && s->len == k->n && memcmp(s->p, k->p, k->n) == 0;
}

size_t oxd__str_cost(size_t n)
{
	return n + 1 + sizeof(struct oxd_str) + IDX_SLOT;
}

uint32_t oxd__str_intern(struct oxd_agg *a, const char *p, size_t n, struct oxd_proc *proc)
{
	ox_xindex_reserve(&a->istrs, str_hash, a);
	struct str_key k = { p, n, ox_hash_bytes(p, n) };
	uint32_t *slot = ox_index_find(&a->istrs, k.h, str_eq, a, &k);
	if (*slot)
		return *slot - 1;
	size_t cost = oxd__str_cost(n);
	if (proc && oxd__over(a, proc, cost))
		return REFUSED;
	ox_xgrow(&a->strs, &a->cap_strs, a->nstrs + 1, sizeof(*a->strs));
	a->strs[a->nstrs] = (struct oxd_str){ arena_put(a, p, n), (uint32_t)n, k.h };
	a->mem_used += cost;
	if (proc)
		oxd__charge_proc(a, proc, cost);
	return ox_index_add(&a->istrs, slot, (uint32_t)a->nstrs++);
}

uint32_t oxd_agg_str(struct oxd_agg *a, const char *p, size_t len)
{
	return oxd__str_intern(a, p ? p : "", p ? len : 0, NULL);
}

/* ---- functions and frames ---- */

struct fn_key {
	uint32_t func, module;
	uint64_t offset;
	uint32_t h;
};

static uint32_t fn_hash(const void *agg, uint32_t id)
{
	return ((const struct oxd_agg *)agg)->fns[id].hash;
}

static int fn_eq(const void *agg, uint32_t id, const void *key)
{
	const struct oxd_fn *f = &((const struct oxd_agg *)agg)->fns[id];
	const struct fn_key *k = key;
	return f->hash == k->h && f->func == k->func && f->module == k->module;
}

static uint32_t fn_intern(struct oxd_agg *a, uint32_t func, uint32_t module)
{
	ox_xindex_reserve(&a->ifns, fn_hash, a);
	struct fn_key k = { func, module, 0,
			    ox_hash_fold(ox_hash_mix(ox_hash_mix(0, func), module)) };
	uint32_t *slot = ox_index_find(&a->ifns, k.h, fn_eq, a, &k);
	if (*slot)
		return *slot - 1;
	ox_xgrow(&a->fns, &a->cap_fns, a->nfns + 1, sizeof(*a->fns));
	a->fns[a->nfns] = (struct oxd_fn){ func, module, k.h, 0, 0, 0, OXD_NONE };
	a->mem_used += sizeof(struct oxd_fn) + IDX_SLOT;
	return ox_index_add(&a->ifns, slot, (uint32_t)a->nfns++);
}

static uint32_t frame_hash(const void *agg, uint32_t id)
{
	return ((const struct oxd_agg *)agg)->frames[id].hash;
}

static int frame_eq(const void *agg, uint32_t id, const void *key)
{
	const struct oxd_frame *f = &((const struct oxd_agg *)agg)->frames[id];
	const struct fn_key *k = key;
	return f->hash == k->h && f->func == k->func && f->module == k->module &&
	       f->offset == k->offset;
}

uint32_t oxd__frame_intern(struct oxd_agg *a, uint32_t func, uint32_t module, uint64_t off,
			   struct oxd_proc *proc)
{
	ox_xindex_reserve(&a->iframes, frame_hash, a);
	uint64_t h = ox_hash_mix(ox_hash_mix(ox_hash_mix(0, func), module), off);
	struct fn_key k = { func, module, off, ox_hash_fold(h) };
	uint32_t *slot = ox_index_find(&a->iframes, k.h, frame_eq, a, &k);
	if (*slot)
		return *slot - 1;
	size_t cost = sizeof(struct oxd_frame) + IDX_SLOT + sizeof(struct oxd_fn) + IDX_SLOT;
	if (proc && oxd__over(a, proc, cost))
		return REFUSED;
	uint32_t fn = fn_intern(a, func, module);
	if (a->fns[fn].frame == OXD_NONE)
		a->fns[fn].frame = (uint32_t)a->nframes;
	ox_xgrow(&a->frames, &a->cap_frames, a->nframes + 1, sizeof(*a->frames));
	a->frames[a->nframes] = (struct oxd_frame){ func, module, off, fn, k.h };
	a->mem_used += sizeof(struct oxd_frame) + IDX_SLOT;
	if (proc)
		oxd__charge_proc(a, proc, cost);
	return ox_index_add(&a->iframes, slot, (uint32_t)a->nframes++);
}

uint32_t oxd_agg_frame(struct oxd_agg *a, uint32_t func, uint32_t module, uint64_t offset)
{
	return oxd__frame_intern(a, func, module, offset, NULL);
}

/* ---- threads ---- */

struct thread_key {
	uint32_t proc, tid, h;
};

static uint32_t thread_hash(const void *agg, uint32_t id)
{
	return ((const struct oxd_agg *)agg)->threads[id].hash;
}

static int thread_eq(const void *agg, uint32_t id, const void *key)
{
	const struct oxd_thread *t = &((const struct oxd_agg *)agg)->threads[id];
	const struct thread_key *k = key;
	return t->hash == k->h && t->proc == k->proc && t->tid == k->tid;
}

/* Find or add a thread; a new one is charged to budget (NULL: no check). */
uint32_t oxd__thread_intern(struct oxd_agg *a, uint32_t proc, uint32_t tid, uint32_t name,
			    struct oxd_proc *budget)
{
	ox_xindex_reserve(&a->ithreads, thread_hash, a);
	struct thread_key k = { proc, tid, ox_hash_fold(ox_hash_mix(ox_hash_mix(1, proc), tid)) };
	uint32_t *slot = ox_index_find(&a->ithreads, k.h, thread_eq, a, &k);
	if (*slot) {
		a->threads[*slot - 1].name = name; /* renamed threads show their latest name */
		return *slot - 1;
	}
	size_t cost = sizeof(struct oxd_thread) + IDX_SLOT;
	if (budget && oxd__over(a, budget, cost))
		return REFUSED;
	ox_xgrow(&a->threads, &a->cap_threads, a->nthreads + 1, sizeof(*a->threads));
	a->threads[a->nthreads] = (struct oxd_thread){ proc, tid, name, k.h };
	a->mem_used += cost;
	oxd__charge_proc(a, &a->procs[proc], cost);
	return ox_index_add(&a->ithreads, slot, (uint32_t)a->nthreads++);
}

uint32_t oxd_agg_thread(struct oxd_agg *a, uint32_t proc, uint32_t tid, uint32_t name)
{
	return oxd__thread_intern(a, proc, tid, name, NULL);
}

/* ---- stacks and entries ---- */

struct stack_key {
	const uint32_t *f;
	uint32_t n, h;
};

static uint32_t stack_hash(const void *agg, uint32_t id)
{
	return ((const struct oxd_agg *)agg)->stacks[id].hash;
}

static int stack_eq(const void *agg, uint32_t id, const void *key)
{
	const struct oxd_agg *a = agg;
	const struct oxd_stack *s = &a->stacks[id];
	const struct stack_key *k = key;
	return s->hash == k->h && s->n == k->n &&
	       memcmp(a->stack_frames + s->off, k->f, k->n * sizeof(*k->f)) == 0;
}

static uint32_t stack_hash_frames(const uint32_t *f, uint32_t n)
{
	uint64_t h = n;
	for (uint32_t i = 0; i < n; i++)
		h = ox_hash_mix(h, f[i]);
	return ox_hash_fold(h);
}

static uint32_t stack_add(struct oxd_agg *a, uint32_t *slot, const struct stack_key *k)
{
	ox_xgrow(&a->stack_frames, &a->cap_stack_frames, a->nstack_frames + k->n,
		  sizeof(*a->stack_frames));
	memcpy(a->stack_frames + a->nstack_frames, k->f, k->n * sizeof(*k->f));
	ox_xgrow(&a->stacks, &a->cap_stacks, a->nstacks + 1, sizeof(*a->stacks));
	a->stacks[a->nstacks] = (struct oxd_stack){ a->nstack_frames, k->n, k->h, 0 };
	a->nstack_frames += k->n;
	return ox_index_add(&a->istacks, slot, (uint32_t)a->nstacks++);
}

static uint32_t entry_key_hash(uint32_t thread, uint32_t stack)
{
	return ox_hash_u64((uint64_t)thread << 32 | stack);
}

static uint32_t entry_hash(const void *agg, uint32_t id)
{
	const struct oxd_entry *e = &((const struct oxd_agg *)agg)->entries[id];
	return entry_key_hash(e->thread, e->stack);
}

static int entry_eq(const void *agg, uint32_t id, const void *key)
{
	const struct oxd_entry *e = &((const struct oxd_agg *)agg)->entries[id];
	const struct oxd_entry *k = key;
	return e->thread == k->thread && e->stack == k->stack;
}

static uint32_t *entry_slot(struct oxd_agg *a, uint32_t thread, uint32_t stack)
{
	struct oxd_entry k = { thread, stack, 0 };
	return ox_index_find(&a->ientries, entry_key_hash(thread, stack), entry_eq, a, &k);
}

void oxd__entries_reindex(struct oxd_agg *a)
{
	ox_xindex_rebuild(&a->ientries, (uint32_t)a->nentries, entry_hash, a);
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

void oxd__count_fns(struct oxd_agg *a, uint32_t stack, uint64_t count)
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

int oxd__add_sample(struct oxd_agg *a, struct oxd_proc *proc, uint32_t thread,
		      const uint32_t *f, uint32_t n, uint64_t count, uint32_t *entry)
{
	ox_xindex_reserve(&a->istacks, stack_hash, a);
	ox_xindex_reserve(&a->ientries, entry_hash, a);
	struct stack_key k = { f, n, stack_hash_frames(f, n) };
	uint32_t *slot = ox_index_find(&a->istacks, k.h, stack_eq, a, &k);
	uint32_t stack = *slot ? *slot - 1 : OXD_NONE;
	uint32_t *eslot = stack != OXD_NONE ? entry_slot(a, thread, stack) : NULL;
	size_t cost = 0;
	if (stack == OXD_NONE)
		cost += sizeof(struct oxd_stack) + IDX_SLOT + n * sizeof(uint32_t);
	if (!eslot || !*eslot)
		cost += sizeof(struct oxd_entry) + IDX_SLOT;
	if (cost && proc && oxd__over(a, proc, cost))
		return -ENOSPC;
	if (stack == OXD_NONE) {
		stack = stack_add(a, slot, &k);
		eslot = entry_slot(a, thread, stack);
	}
	if (!*eslot) {
		ox_xgrow(&a->entries, &a->cap_entries, a->nentries + 1, sizeof(*a->entries));
		a->entries[a->nentries] = (struct oxd_entry){ thread, stack, 0 };
		ox_index_add(&a->ientries, eslot, (uint32_t)a->nentries++);
	}
	a->mem_used += cost;
	oxd__charge_proc(a, &a->procs[a->threads[thread].proc], cost);
	a->entries[*eslot - 1].count += count;
	a->stacks[stack].count += count;
	oxd__count_fns(a, stack, count);
	if (entry)
		*entry = *eslot - 1;
	return 0;
}

uint32_t oxd_agg_restore_entry(struct oxd_agg *a, uint32_t thread, const uint32_t *frames,
			       uint32_t n, uint64_t count)
{
	uint32_t e = OXD_NONE;
	oxd__add_sample(a, NULL, thread, frames, n, count, &e);
	return e;
}

/* ---- life ---- */

void oxd_agg_init(struct oxd_agg *a, uint64_t mem_budget, uint64_t proc_budget)
{
	memset(a, 0, sizeof(*a));
	a->mem_budget = mem_budget;
	a->proc_budget = proc_budget;
	a->bud.uid_limit = mem_budget;
	oxd_agg_str(a, "", 0); /* string 0 is "", for unnamed things */
	oxd__hist_init(a);
}

void oxd_agg_destroy(struct oxd_agg *a)
{
	arena_free(a);
	ox_index_destroy(&a->istrs);
	ox_index_destroy(&a->iframes);
	ox_index_destroy(&a->ifns);
	ox_index_destroy(&a->istacks);
	ox_index_destroy(&a->ithreads);
	ox_index_destroy(&a->ientries);
	free(a->strs);
	free(a->frames);
	free(a->fns);
	free(a->stacks);
	free(a->stack_frames);
	free(a->threads);
	free(a->entries);
	free(a->procs);
	free(a->build_ids);
	free(a->module_loads);
	oxd_budget_destroy(&a->bud);
	oxd__hist_destroy(&a->hist);
	memset(a, 0, sizeof(*a));
}
