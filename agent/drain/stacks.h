/*
 * stacks.h - a fixed-budget table of unique stacks and their counts.
 *
 * The drain thread folds identical samples here between sends.  Each entry
 * counts samples not yet sent (pending) and samples sent but not yet
 * durable in the daemon (inflight; conn.c's log of batches knows which
 * batch holds how many, and puts them back when the daemon lost them).
 * The budget is set at init and never grows: a sample
 * of a new stack that does not fit is refused (-ENOSPC) and the caller
 * counts it as dropped.  Single-threaded: the drain thread only.
 */
#ifndef OXA_STACKS_H
#define OXA_STACKS_H

#include <stddef.h>
#include <stdint.h>

#include "ox/index.h"

struct oxa_stack_ent {
	uint32_t hash;
	uint32_t tid;
	uint32_t ips_off;     /* first of nframes in the pool */
	uint16_t nframes;
	uint8_t state;
	uint8_t resolved;     /* its frames have ids (and so are symbolised) */
	uint32_t pending;
	uint32_t inflight;    /* in batches not yet durable */
};

/* The delivery log (agent.h, oxa_held) keeps up to this many records of
 * 8 bytes per entry; the table's budget pays for them. */
#define OXA_HELD_PER_ENT 2

struct oxa_stacks {
	struct oxa_stack_ent *ents;
	size_t nents, ents_cap;
	struct ox_index index;  /* over ents, sized for ents_cap */
	uintptr_t *pool;
	size_t pool_len, pool_cap;
	uint32_t *moved;      /* by the last compaction: old index -> new,
				 UINT32_MAX for a dropped entry */
};

/* Allocate for about budget bytes in all.  0 or -ENOMEM. */
int oxa_stacks_init(struct oxa_stacks *t, size_t budget);
void oxa_stacks_destroy(struct oxa_stacks *t);
/* Add count samples of one stack.  0, or -ENOSPC when it is new and the
 * table is full. */
int oxa_stacks_add(struct oxa_stacks *t, uint32_t tid, uint8_t state,
		   const uintptr_t *ips, uint16_t n, uint32_t count);
static inline const uintptr_t *oxa_stacks_ips(const struct oxa_stacks *t,
					      const struct oxa_stack_ent *e)
{
	return t->pool + e->ips_off;
}
/* Samples counted as pending, inflight. */
uint64_t oxa_stacks_pending(const struct oxa_stacks *t);
uint64_t oxa_stacks_inflight(const struct oxa_stacks *t);
/* Drop entries that hold nothing (no pending, no inflight samples) and
 * close the gaps; entries move, t->moved says where. */
void oxa_stacks_compact(struct oxa_stacks *t);
/* Forget pending samples (a reset); returns how many.  Compact after. */
uint64_t oxa_stacks_discard_pending(struct oxa_stacks *t);

#endif
