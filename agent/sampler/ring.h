/*
 * ring.h - preallocated lock-free sample ring: many producers (signal
 * handlers on any thread), one consumer (the drain thread).
 *
 * Records are variable length, in 64-bit words: one header word, then the
 * payload.  Producers reserve space with a CAS on the tail, write the
 * payload, then publish the header with a release store; the consumer reads
 * the header at the head with an acquire load, copies the record, clears
 * its words back to zero and advances the head.  A zero header means "not
 * yet published", so records become visible in reservation order.  When
 * the ring has no room for a record the producer counts a drop and returns;
 * it never waits.
 *
 * Memory is one anonymous mapping made by oxa_ring_new; nothing is
 * allocated afterwards.
 */
#ifndef OXA_RING_H
#define OXA_RING_H

#include <stddef.h>
#include <stdint.h>

struct oxa_ring;

/* Largest payload one record may carry, in words. */
#define OXA_RING_MAX_PAYLOAD 0xfffeu
/* The tag is 48 bits; the header keeps the length in the low 16. */
#define OXA_RING_TAG_MAX ((UINT64_C(1) << 48) - 1)

/* A ring of at least words 64-bit words (rounded up to a power of two,
 * minimum 64).  0 or -ENOMEM/-EINVAL; the caller frees with oxa_ring_free. */
int oxa_ring_new(struct oxa_ring **out, size_t words);
void oxa_ring_free(struct oxa_ring *r);
/* Capacity in words. */
size_t oxa_ring_capacity(const struct oxa_ring *r);

/* Append one record: tag (48 bits) and n >= 1 payload words.  0, or
 * -ENOBUFS when full (the drop is counted), -EMSGSIZE when it can never
 * fit, -EINVAL for n == 0.
 * Async-signal-safe; any number of concurrent producers. */
int oxa_ring_push(struct oxa_ring *r, uint64_t tag, const uint64_t *words,
		  size_t n);
/* Take the oldest published record.  Copies at most cap payload words to
 * out, sets *tag, and returns the record's full payload length; 0 when
 * nothing is published.  Single consumer only. */
size_t oxa_ring_pop(struct oxa_ring *r, uint64_t *tag, uint64_t *out,
		    size_t cap);
/* Records dropped because the ring was full. */
uint64_t oxa_ring_dropped(const struct oxa_ring *r);
/* Forget everything in the ring.  Only when no producer or consumer can
 * run, e.g. in a fork child before it re-arms. */
void oxa_ring_reset(struct oxa_ring *r);

#endif
