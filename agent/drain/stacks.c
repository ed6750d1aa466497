/* stacks.c - see stacks.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stacks.h"

#define AVG_FRAMES 24 /* sizing guess: budget split between entries and frames */

struct key {
	const uintptr_t *ips;
	uint32_t tid, h;
	uint16_t n;
	uint8_t state;
};

static uint32_t hash_stack(uint32_t tid, uint8_t state, const uintptr_t *ips, uint16_t n)
{
	uint64_t h = ox_hash_mix(n, (uint64_t)tid << 8 | state);
	for (uint16_t i = 0; i < n; i++)
		h = ox_hash_mix(h, ips[i]);
	return ox_hash_fold(h);
}

static uint32_t ent_hash(const void *tab, uint32_t id)
{
	return ((const struct oxa_stacks *)tab)->ents[id].hash;
}

static int ent_eq(const void *tab, uint32_t id, const void *key)
{
	const struct oxa_stacks *t = tab;
	const struct oxa_stack_ent *e = &t->ents[id];
	const struct key *k = key;
	return e->hash == k->h && e->tid == k->tid && e->state == k->state &&
	       e->nframes == k->n && memcmp(t->pool + e->ips_off, k->ips, k->n * sizeof(*k->ips)) == 0;
}

int oxa_stacks_init(struct oxa_stacks *t, size_t budget)
{
	memset(t, 0, sizeof(*t));
	size_t per = sizeof(struct oxa_stack_ent) + 3 * sizeof(uint32_t) +
		     AVG_FRAMES * sizeof(uintptr_t) + OXA_HELD_PER_ENT * 8;
	t->ents_cap = budget / per;
	if (t->ents_cap < 64)
		t->ents_cap = 64;
	if (t->ents_cap > UINT32_MAX / 4) /* ids are 32-bit, slots twice as many */
		t->ents_cap = UINT32_MAX / 4;
	t->pool_cap = t->ents_cap * AVG_FRAMES;
	t->ents = malloc(t->ents_cap * sizeof(*t->ents));
	t->pool = malloc(t->pool_cap * sizeof(*t->pool));
	t->moved = malloc(t->ents_cap * sizeof(*t->moved));
	/* Sized once for every entry the budget allows: adding never grows
	 * it (and never fails but for -ENOSPC). */
	int r = ox_index_init(&t->index, (uint32_t)t->ents_cap);
	if (!t->ents || r < 0 || !t->pool || !t->moved) {
		oxa_stacks_destroy(t);
		return -ENOMEM;
	}
	return 0;
}

void oxa_stacks_destroy(struct oxa_stacks *t)
{
	free(t->ents);
	ox_index_destroy(&t->index);
	free(t->pool);
	free(t->moved);
	memset(t, 0, sizeof(*t));
}

int oxa_stacks_add(struct oxa_stacks *t, uint32_t tid, uint8_t state,
		   const uintptr_t *ips, uint16_t n, uint32_t count)
{
	struct key k = { ips, tid, hash_stack(tid, state, ips, n), n, state };
	uint32_t *slot = ox_index_find(&t->index, k.h, ent_eq, t, &k);
	if (*slot) {
		t->ents[*slot - 1].pending += count;
		return 0;
	}
	if (t->nents == t->ents_cap || n > t->pool_cap - t->pool_len)
		return -ENOSPC;
	struct oxa_stack_ent *e = &t->ents[t->nents];
	*e = (struct oxa_stack_ent){ .hash = k.h, .tid = tid, .state = state, .nframes = n,
				     .ips_off = (uint32_t)t->pool_len, .pending = count };
	memcpy(t->pool + t->pool_len, ips, n * sizeof(*ips));
	t->pool_len += n;
	ox_index_add(&t->index, slot, (uint32_t)t->nents++);
	return 0;
}

uint64_t oxa_stacks_pending(const struct oxa_stacks *t)
{
	uint64_t n = 0;
	for (size_t i = 0; i < t->nents; i++)
		n += t->ents[i].pending;
	return n;
}

uint64_t oxa_stacks_inflight(const struct oxa_stacks *t)
{
	uint64_t n = 0;
	for (size_t i = 0; i < t->nents; i++)
		n += t->ents[i].inflight;
	return n;
}

void oxa_stacks_compact(struct oxa_stacks *t)
{
	size_t out = 0, pool = 0;
	for (size_t i = 0; i < t->nents; i++) {
		struct oxa_stack_ent e = t->ents[i];
		t->moved[i] = e.pending || e.inflight ? (uint32_t)out : UINT32_MAX;
		if (!e.pending && !e.inflight)
			continue;
		memmove(t->pool + pool, t->pool + e.ips_off, e.nframes * sizeof(*t->pool));
		e.ips_off = (uint32_t)pool;
		pool += e.nframes;
		t->ents[out++] = e;
	}
	t->nents = out;
	t->pool_len = pool;
	ox_index_refill(&t->index, (uint32_t)out, ent_hash, t);
}

uint64_t oxa_stacks_discard_pending(struct oxa_stacks *t)
{
	uint64_t n = 0;
	for (size_t i = 0; i < t->nents; i++) {
		n += t->ents[i].pending;
		t->ents[i].pending = 0;
	}
	return n;
}
