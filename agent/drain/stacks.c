/* stacks.c - see stacks.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stacks.h"

#define AVG_FRAMES 24 /* sizing guess: budget split between entries and frames */

static uint64_t hash_stack(uint32_t tid, uint8_t state, const uintptr_t *ips, uint16_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)tid << 8 | state);
	for (uint16_t i = 0; i < n; i++) {
		h ^= (uint64_t)ips[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	return h ? h : 1;
}

int oxa_stacks_init(struct oxa_stacks *t, size_t budget)
{
	memset(t, 0, sizeof(*t));
	size_t per = sizeof(struct oxa_stack_ent) + 3 * sizeof(uint32_t) +
		     AVG_FRAMES * sizeof(uintptr_t) + OXA_HELD_PER_ENT * 8;
	t->ents_cap = budget / per;
	if (t->ents_cap < 64)
		t->ents_cap = 64;
	size_t slots = 1;
	while (slots < 2 * t->ents_cap)
		slots <<= 1;
	t->index_mask = slots - 1;
	t->pool_cap = t->ents_cap * AVG_FRAMES;
	t->ents = malloc(t->ents_cap * sizeof(*t->ents));
	t->index = calloc(slots, sizeof(*t->index));
	t->pool = malloc(t->pool_cap * sizeof(*t->pool));
	t->moved = malloc(t->ents_cap * sizeof(*t->moved));
	if (!t->ents || !t->index || !t->pool || !t->moved) {
		oxa_stacks_destroy(t);
		return -ENOMEM;
	}
	return 0;
}

void oxa_stacks_destroy(struct oxa_stacks *t)
{
	free(t->ents);
	free(t->index);
	free(t->pool);
	free(t->moved);
	memset(t, 0, sizeof(*t));
}

static int same(const struct oxa_stacks *t, const struct oxa_stack_ent *e, uint64_t h,
		uint32_t tid, uint8_t state, const uintptr_t *ips, uint16_t n)
{
	return e->hash == h && e->tid == tid && e->state == state && e->nframes == n &&
	       memcmp(t->pool + e->ips_off, ips, n * sizeof(*ips)) == 0;
}

int oxa_stacks_add(struct oxa_stacks *t, uint32_t tid, uint8_t state,
		   const uintptr_t *ips, uint16_t n, uint32_t count)
{
	uint64_t h = hash_stack(tid, state, ips, n);
	size_t i = (size_t)h & t->index_mask;
	for (; t->index[i]; i = (i + 1) & t->index_mask) {
		struct oxa_stack_ent *e = &t->ents[t->index[i] - 1];
		if (same(t, e, h, tid, state, ips, n)) {
			e->pending += count;
			return 0;
		}
	}
	if (t->nents == t->ents_cap || n > t->pool_cap - t->pool_len)
		return -ENOSPC;
	struct oxa_stack_ent *e = &t->ents[t->nents];
	*e = (struct oxa_stack_ent){ .hash = h, .tid = tid, .state = state, .nframes = n,
				     .ips_off = (uint32_t)t->pool_len, .pending = count };
	memcpy(t->pool + t->pool_len, ips, n * sizeof(*ips));
	t->pool_len += n;
	t->index[i] = (uint32_t)++t->nents;
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
	memset(t->index, 0, (t->index_mask + 1) * sizeof(*t->index));
	for (size_t i = 0; i < t->nents; i++) {
		struct oxa_stack_ent e = t->ents[i];
		t->moved[i] = e.pending || e.inflight ? (uint32_t)out : UINT32_MAX;
		if (!e.pending && !e.inflight)
			continue;
		memmove(t->pool + pool, t->pool + e.ips_off, e.nframes * sizeof(*t->pool));
		e.ips_off = (uint32_t)pool;
		pool += e.nframes;
		t->ents[out] = e;
		size_t j = (size_t)e.hash & t->index_mask;
		while (t->index[j])
			j = (j + 1) & t->index_mask;
		t->index[j] = (uint32_t)++out;
	}
	t->nents = out;
	t->pool_len = pool;
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
