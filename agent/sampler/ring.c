/*
 * ring.c - the sample ring; see ring.h for the protocol.
 *
 * Why variable-length records: a sample is one to OXA_MAX_DEPTH frames;
 * fixed slots sized for the worst case would cost 2 KB per sample.
 *
 * Every word is accessed through an atomic (relaxed for payload, release/
 * acquire for the header) so the code is free of data races as C11 defines
 * them; on x86-64 these are plain moves.
 */
#include "ring.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>

struct oxa_ring {
	_Alignas(64) _Atomic uint64_t tail; /* producers reserve here */
	_Alignas(64) _Atomic uint64_t head; /* consumer releases here */
	_Alignas(64) _Atomic uint64_t dropped;
	uint64_t mask;
	size_t map_len;
	_Atomic uint64_t *buf;
};

int oxa_ring_new(struct oxa_ring **out, size_t words)
{
	if (!out || words == 0 || words > (SIZE_MAX >> 4))
		return -EINVAL;
	size_t cap = 64;
	while (cap < words)
		cap <<= 1;
	size_t len = sizeof(struct oxa_ring) + cap * sizeof(uint64_t);
	/* mmap, not malloc: lazily zeroed pages, and the host's heap never
	 * holds memory the handler writes. */
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	struct oxa_ring *r = m;
	r->mask = cap - 1;
	r->map_len = len;
	r->buf = (_Atomic uint64_t *)(r + 1);
	*out = r;
	return 0;
}

void oxa_ring_free(struct oxa_ring *r)
{
	if (r)
		munmap(r, r->map_len);
}

size_t oxa_ring_capacity(const struct oxa_ring *r)
{
	return (size_t)r->mask + 1;
}

int oxa_ring_push(struct oxa_ring *r, uint64_t tag, const uint64_t *words,
		  size_t n)
{
	uint64_t len = (uint64_t)n + 1;
	if (n == 0)
		return -EINVAL; /* pop could not tell it from "empty" */
	if (n > OXA_RING_MAX_PAYLOAD || len > r->mask + 1)
		return -EMSGSIZE;
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	do {
		uint64_t h = atomic_load_explicit(&r->head,
						  memory_order_acquire);
		if (t + len - h > r->mask + 1) {
			atomic_fetch_add_explicit(&r->dropped, 1,
						  memory_order_relaxed);
			return -ENOBUFS;
		}
	} while (!atomic_compare_exchange_weak_explicit(
		&r->tail, &t, t + len, memory_order_acq_rel,
		memory_order_relaxed));
	for (uint64_t i = 1; i < len; i++)
		atomic_store_explicit(&r->buf[(t + i) & r->mask], words[i - 1],
				      memory_order_relaxed);
	/* The length is at least 1, so a published header is never zero. */
	uint64_t hdr = (tag & OXA_RING_TAG_MAX) << 16 | len;
	atomic_store_explicit(&r->buf[t & r->mask], hdr, memory_order_release);
	return 0;
}

size_t oxa_ring_pop(struct oxa_ring *r, uint64_t *tag, uint64_t *out,
		    size_t cap)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t hdr = atomic_load_explicit(&r->buf[h & r->mask],
					    memory_order_acquire);
	if (hdr == 0)
		return 0;
	uint64_t len = hdr & 0xffff;
	*tag = hdr >> 16;
	for (uint64_t i = 1; i < len; i++) {
		_Atomic uint64_t *w = &r->buf[(h + i) & r->mask];
		if (i - 1 < cap)
			out[i - 1] = atomic_load_explicit(w,
							  memory_order_relaxed);
		atomic_store_explicit(w, 0, memory_order_relaxed);
	}
	atomic_store_explicit(&r->buf[h & r->mask], 0, memory_order_relaxed);
	/* Release: the zeroing above happens before any producer that sees
	 * the new head reuses these words. */
	atomic_store_explicit(&r->head, h + len, memory_order_release);
	return (size_t)(len - 1);
}

uint64_t oxa_ring_dropped(const struct oxa_ring *r)
{
	return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}

void oxa_ring_reset(struct oxa_ring *r)
{
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	/* Only [head, tail) can be non-zero; clearing just that keeps a fork
	 * child from copying the whole mapping. */
	if (t - h > r->mask + 1)
		t = h + r->mask + 1;
	for (uint64_t i = h; i < t; i++)
		atomic_store_explicit(&r->buf[i & r->mask], 0,
				      memory_order_relaxed);
	atomic_store_explicit(&r->tail, h, memory_order_relaxed);
}
