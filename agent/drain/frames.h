/*
 * frames.h - the agent's frame table: each distinct pc gets a dense id and
 * is symbolised once, on first sight (drain thread only).  Ids are stable
 * for the life of the process, so the wire protocol's per-connection frame
 * definitions only need a "defined on this connection" flag per id.
 */
#ifndef OXA_FRAMES_H
#define OXA_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "ox/index.h"
#include "symbols.h"

struct oxa_frame {
	uintptr_t pc;
	int ret;                /* pc is a return address */
	uint32_t func, module;  /* string ids */
	uint64_t offset;
};

struct oxa_frames {
	struct oxa_frame *v;
	size_t n, cap;
	struct ox_index index;
	struct oxa_symbols *syms;
	struct oxa_strtab *strs; /* for names of pcs that are no code: the
				    sampler's OXA_PC_KERNEL; NULL: none */
};

/* An empty table (allocates nothing until the first pc).  0. */
int oxa_frames_init(struct oxa_frames *f, struct oxa_symbols *syms);
void oxa_frames_destroy(struct oxa_frames *f);
/* The id of pc, symbolising it if new.  ret: pc is a return address (every
 * frame of a stack but the interrupted one), named by the call before it:
 * a call that never returns (exit, abort, an error path) may end its
 * function, and its return address is then the first byte of the next
 * function, or padding no function covers.  The offset stays pc's.
 * OXA_PC_KERNEL (sampler.h) is the frame "[kernel]" in module "[kernel]".
 * 0 or -ENOMEM. */
int oxa_frames_id(struct oxa_frames *f, uintptr_t pc, int ret, uint32_t *id);

#endif
