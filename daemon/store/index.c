/* index.c - the store's one hash index: growing it. */
#include "index.h"

#include <stdlib.h>
#include <string.h>

#include "ox/xalloc.h"

void oxd_index_destroy(struct oxd_index *x)
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

void oxd_index_reserve(struct oxd_index *x, oxd_index_hash_fn hash, const void *ctx)
{
	if (x->slots && (x->n + 1) * 2 <= x->mask + 1)
		return;
	uint32_t cap = x->slots ? (x->mask + 1) * 2 : OXD_INDEX_MIN;
	uint32_t *s = ox_xcalloc(cap, sizeof(*s));
	for (uint32_t i = 0; x->slots && i <= x->mask; i++)
		if (x->slots[i])
			put(s, cap - 1, hash(ctx, x->slots[i] - 1), x->slots[i]);
	free(x->slots);
	x->slots = s;
	x->mask = cap - 1;
}

void oxd_index_rebuild(struct oxd_index *x, uint32_t n, oxd_index_hash_fn hash, const void *ctx)
{
	uint32_t cap = OXD_INDEX_MIN;
	while (((uint64_t)n + 1) * 2 > cap)
		cap *= 2;
	free(x->slots);
	x->slots = ox_xcalloc(cap, sizeof(uint32_t));
	x->mask = cap - 1;
	x->n = n;
	for (uint32_t id = 0; id < n; id++)
		put(x->slots, x->mask, hash(ctx, id), id + 1);
}
