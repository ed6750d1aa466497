/* frames.c - see frames.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "sampler/sampler.h"
#include "strtab.h"

struct frame_key {
	uintptr_t pc;
	int ret;
};

static uint32_t key_hash(uintptr_t pc, int ret)
{
	return ox_hash_u64((uint64_t)pc * 2 + (ret != 0));
}

static uint32_t frame_hash(const void *frames, uint32_t id)
{
	const struct oxa_frame *fr = &((const struct oxa_frames *)frames)->v[id];
	return key_hash(fr->pc, fr->ret);
}

static int frame_eq(const void *frames, uint32_t id, const void *key)
{
	const struct oxa_frame *fr = &((const struct oxa_frames *)frames)->v[id];
	const struct frame_key *k = key;
	return fr->pc == k->pc && fr->ret == k->ret;
}

int oxa_frames_init(struct oxa_frames *f, struct oxa_symbols *syms)
{
	memset(f, 0, sizeof(*f));
	f->syms = syms;
	return 0;
}

void oxa_frames_destroy(struct oxa_frames *f)
{
	free(f->v);
	ox_index_destroy(&f->index);
	memset(f, 0, sizeof(*f));
}

int oxa_frames_id(struct oxa_frames *f, uintptr_t pc, int ret, uint32_t *id)
{
	ret = ret && pc > 0;
	if (ox_index_reserve(&f->index, frame_hash, f) < 0)
		return -ENOMEM;
	struct frame_key key = { pc, ret };
	uint32_t *slot = ox_index_find(&f->index, key_hash(pc, ret), frame_eq, f, &key);
	if (*slot) {
		*id = *slot - 1;
		return 0;
	}
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		struct oxa_frame *v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	struct oxa_frame *fr = &f->v[f->n];
	fr->pc = pc;
	fr->ret = ret;
	int r;
	if (pc == OXA_PC_KERNEL && f->strs) {
		/* Time in a system call, under the frame that made it. */
		if ((r = oxa_strtab_intern(f->strs, "[kernel]", 8, &fr->func)) < 0)
			return r;
		fr->module = fr->func;
		fr->offset = 0;
	} else {
		if ((r = oxa_symbols_lookup(f->syms, pc - (uintptr_t)ret, &fr->func,
					    &fr->module, &fr->offset)) < 0)
			return r;
		fr->offset += (uint64_t)ret;
	}
	*id = ox_index_add(&f->index, slot, (uint32_t)f->n++);
	return 0;
}
