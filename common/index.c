/* index.c - oxprof's one hash index: sizing and growing it; see ox/index.h. */
#include "ox/index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Slots for n elements with room for none more: a power of two, at least
 * twice n. */
static uint32_t slots_for(uint32_t n)
{
	uint64_t cap = OX_INDEX_MIN;
	while ((uint64_t)n * 2 > cap)
		cap *= 2;
	return cap > UINT32_MAX / 2 + 1 ? 0 : (uint32_t)cap;
}

static int alloc(struct ox_index *x, uint32_t cap)
{
	uint32_t *s = cap ? calloc(cap, sizeof(*s)) : NULL;
	if (!s)
		return -ENOMEM;
	free(x->slots);
	x->slots = s;
	x->mask = cap - 1;
	x->n = 0;
	return 0;
}

int ox_index_init(struct ox_index *x, uint32_t n)
{
	memset(x, 0, sizeof(*x));
	return alloc(x, slots_for(n));
}

void ox_index_destroy(struct ox_index *x)
{
	free(x->slots);
	memset(x, 0, sizeof(*x));
}

static void put(uint32_t *s, uint32_t mask, uint32_t h, uint32_t v)
{
	uint32_t j = h & mask;
	while (s[j])
		j = (j + 1) & mask;
	s[j] = v;
}

int ox_index_grow(struct ox_index *x, ox_index_hash_fn hash, const void *ctx)
{
	uint32_t cap = x->slots ? (x->mask + 1) * 2 : OX_INDEX_MIN;
	uint32_t *s = cap ? calloc(cap, sizeof(*s)) : NULL;
	if (!s)
		return -ENOMEM;
	for (uint32_t i = 0; x->slots && i <= x->mask; i++)
		if (x->slots[i])
			put(s, cap - 1, hash(ctx, x->slots[i] - 1), x->slots[i]);
	free(x->slots);
	x->slots = s;
	x->mask = cap - 1;
	return 0;
}

void ox_index_refill(struct ox_index *x, uint32_t n, ox_index_hash_fn hash, const void *ctx)
{
	memset(x->slots, 0, ((size_t)x->mask + 1) * sizeof(*x->slots));
	x->n = n;
	for (uint32_t id = 0; id < n; id++)
		put(x->slots, x->mask, hash(ctx, id), id + 1);
}

int ox_index_rebuild(struct ox_index *x, uint32_t n, ox_index_hash_fn hash, const void *ctx)
{
	int r = alloc(x, slots_for(n + 1));
	if (r == 0)
		ox_index_refill(x, n, hash, ctx);
	return r;
}
