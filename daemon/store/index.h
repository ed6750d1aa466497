/*
 * index.h - the store's one hash index, and its hash functions.
 *
 * An index holds id + 1 per slot (0 = empty) for elements that live in an
 * array the caller owns; it is kept at most half full, with linear
 * probing.  The caller says how to hash an element by id (to grow) and how
 * to compare one with a key (to find), through a context pointer, so one
 * probe loop and one grow routine serve every table.
 */
#ifndef OXD_INDEX_H
#define OXD_INDEX_H

#include <stddef.h>
#include <stdint.h>

struct oxd_index {
	uint32_t *slots;        /* id + 1, 0 = empty */
	uint32_t mask;
	uint32_t n;
};

/* The hash of element id, as the caller's find used it. */
typedef uint32_t (*oxd_index_hash_fn)(const void *ctx, uint32_t id);
/* Whether element id is the key. */
typedef int (*oxd_index_eq_fn)(const void *ctx, uint32_t id, const void *key);

#define OXD_INDEX_MIN 16 /* slots of a new index */

void oxd_index_destroy(struct oxd_index *x);
/* Slots the next oxd_index_reserve adds (0: it has room), for callers
 * that charge an index's growth before it happens. */
static inline uint32_t oxd_index_growth(const struct oxd_index *x)
{
	if (!x->slots)
		return OXD_INDEX_MIN;
	return (x->n + 1) * 2 <= x->mask + 1 ? 0 : x->mask + 1;
}
/* Room for one more element (grows, rehashing what it holds). */
void oxd_index_reserve(struct oxd_index *x, oxd_index_hash_fn hash, const void *ctx);
/* Index ids 0..n-1 afresh, with room for one more (after the array was
 * compacted). */
void oxd_index_rebuild(struct oxd_index *x, uint32_t n, oxd_index_hash_fn hash, const void *ctx);

/* The slot holding the element equal to key, or the empty slot where it
 * goes.  The index must have room (oxd_index_reserve). */
static inline uint32_t *oxd_index_find(const struct oxd_index *x, uint32_t h, oxd_index_eq_fn eq,
				       const void *ctx, const void *key)
{
	for (uint32_t i = h & x->mask;; i = (i + 1) & x->mask) {
		uint32_t v = x->slots[i];
		if (!v || eq(ctx, v - 1, key))
			return &x->slots[i];
	}
}

/* Put id in the empty slot find returned; returns id. */
static inline uint32_t oxd_index_add(struct oxd_index *x, uint32_t *slot, uint32_t id)
{
	*slot = id + 1;
	x->n++;
	return id;
}

/* ---- hashing ---- */

static inline uint32_t oxd_hash_fold(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return (uint32_t)h;
}

static inline uint64_t oxd_hash_mix(uint64_t h, uint64_t x)
{
	return (h ^ x) * 0x9e3779b97f4a7c15ull + (h >> 29);
}

static inline uint32_t oxd_hash_u64(uint64_t x)
{
	return oxd_hash_fold(x * 0x9e3779b97f4a7c15ull);
}

static inline uint32_t oxd_hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return oxd_hash_fold(h);
}

#endif
