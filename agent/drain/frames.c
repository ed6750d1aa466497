/* frames.c - see frames.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"

static uint32_t frame_hash(const void *frames, uint32_t id)
{
	return ox_hash_u64(((const struct oxa_frames *)frames)->v[id].pc);
}

static int frame_eq(const void *frames, uint32_t id, const void *pc)
{
	return ((const struct oxa_frames *)frames)->v[id].pc == *(const uintptr_t *)pc;
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

int oxa_frames_id(struct oxa_frames *f, uintptr_t pc, uint32_t *id)
{
	if (ox_index_reserve(&f->index, frame_hash, f) < 0)
		return -ENOMEM;
	uint32_t *slot = ox_index_find(&f->index, ox_hash_u64(pc), frame_eq, f, &pc);
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
	int r = oxa_symbols_lookup(f->syms, pc, &fr->func, &fr->module, &fr->offset);
	if (r < 0)
		return r;
	*id = ox_index_add(&f->index, slot, (uint32_t)f->n++);
	return 0;
}
