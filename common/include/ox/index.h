/*
 * index.h - oxprof's one hash index, and its hash functions.
 *
 * An index holds id + 1 per slot (0 = empty) for elements that live in an
 * array the caller owns; it is kept at most half full, with linear
 * probing.  The caller says how to hash an element by id (to grow) and how
 * to compare one with a key (to find), through a context pointer, so one
 * probe loop and one grow routine serve every table of the daemon's store
 * and of the agent's drain thread.
 *
 * Growing allocates with calloc and reports failure as -ENOMEM, leaving
 * the index as it was: the agent must not end its host.  The daemon ends
 * itself instead, through ox/xalloc.h's ox_xindex_reserve and
 * ox_xindex_rebuild.  Not
 * async-signal-safe: never from the agent's signal handler.
 */
#ifndef OX_INDEX_H
#define OX_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct ox_index {
	uint32_t *slots;        /* id + 1, 0 = empty */
	uint32_t mask;
	uint32_t n;
};

/* The hash of element id, as the caller's find used it. */
typedef uint32_t (*ox_index_hash_fn)(const void *ctx, uint32_t id);
/* Whether element id is the key. */
typedef int (*ox_index_eq_fn)(const void *ctx, uint32_t id, const void *key);

#define OX_INDEX_MIN 16 /* slots of a new index */

/* An empty index with room for n elements before it grows (a table with a
 * fixed budget sizes it once and never grows).  0 or -ENOMEM. */
int ox_index_init(struct ox_index *x, uint32_t n);
void ox_index_destroy(struct ox_index *x);
/* Slots the next ox_index_reserve adds (0: it has room), for callers
 * that charge an index's growth before it happens. */
static inline uint32_t ox_index_growth(const struct ox_index *x)
{
	if (!x->slots)
		return OX_INDEX_MIN;
	return (x->n + 1) * 2 <= x->mask + 1 ? 0 : x->mask + 1;
}
/* ox_index_reserve's slow path. */
int ox_index_grow(struct ox_index *x, ox_index_hash_fn hash, const void *ctx);
/* Room for one more element (grows, rehashing what it holds).  0, or
 * -ENOMEM with the index unchanged. */
static inline int ox_index_reserve(struct ox_index *x, ox_index_hash_fn hash, const void *ctx)
{
	return ox_index_growth(x) ? ox_index_grow(x, hash, ctx) : 0;
}
/* Index ids 0..n-1 afresh in the slots it has (after the array was
 * compacted); they must fit with room for one more. */
void ox_index_refill(struct ox_index *x, uint32_t n, ox_index_hash_fn hash, const void *ctx);
/* The same in slots sized afresh for n + 1.  0, or -ENOMEM with the index
 * unchanged (and so stale). */
int ox_index_rebuild(struct ox_index *x, uint32_t n, ox_index_hash_fn hash, const void *ctx);

/* The slot holding the element equal to key, or the empty slot where it
 * goes.  The index must have room (ox_index_reserve or ox_index_init). */
static inline uint32_t *ox_index_find(const struct ox_index *x, uint32_t h, ox_index_eq_fn eq,
				      const void *ctx, const void *key)
{
	for (uint32_t i = h & x->mask;; i = (i + 1) & x->mask) {
		uint32_t v = x->slots[i];
		if (!v || eq(ctx, v - 1, key))
			return &x->slots[i];
	}
}

/* Put id in the empty slot find returned; returns id. */
static inline uint32_t ox_index_add(struct ox_index *x, uint32_t *slot, uint32_t id)
{
	*slot = id + 1;
	x->n++;
	return id;
}

/* ---- hashing: one mixer for every key, folded to the index's 32 bits ---- */

static inline uint32_t ox_hash_fold(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h;
}

/* Add x to a running hash h (start from any constant). */
static inline uint64_t ox_hash_mix(uint64_t h, uint64_t x)
{
	return (h ^ x) * 0x9e3779b97f4a7c15ull + (h >> 29);
}

static inline uint32_t ox_hash_u64(uint64_t x)
{
	return ox_hash_fold(x * 0x9e3779b97f4a7c15ull);
}

static inline uint32_t ox_hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return ox_hash_fold(h);
}

#endif
