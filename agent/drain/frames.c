/* frames.c - see frames.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "sampler/sampler.h"
#include "strtab.h"

static size_t slot(const struct oxa_frames *f, uintptr_t pc)
{
	uint64_t h = (uint64_t)pc * 0x9E3779B97F4A7C15ull;
	size_t i = (size_t)(h >> 20) & f->index_mask;
	while (f->index[i] && f->v[f->index[i] - 1].pc != pc)
		i = (i + 1) & f->index_mask;
	return i;
}

int oxa_frames_init(struct oxa_frames *f, struct oxa_symbols *syms)
{
	memset(f, 0, sizeof(*f));
	f->syms = syms;
	f->index_mask = 4095;
	f->index = calloc(f->index_mask + 1, sizeof(*f->index));
	return f->index ? 0 : -ENOMEM;
}

void oxa_frames_destroy(struct oxa_frames *f)
{
	free(f->v);
	free(f->index);
	memset(f, 0, sizeof(*f));
}

static int grow(struct oxa_frames *f)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		struct oxa_frame *v = realloc(f->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		f->v = v;
		f->cap = cap;
	}
	if ((f->n + 1) * 2 <= f->index_mask)
		return 0;
	size_t slots = (f->index_mask + 1) * 2;
	uint32_t *idx = calloc(slots, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	free(f->index);
	f->index = idx;
	f->index_mask = slots - 1;
	for (size_t i = 0; i < f->n; i++)
		f->index[slot(f, f->v[i].pc)] = (uint32_t)i + 1;
	return 0;
}

int oxa_frames_id(struct oxa_frames *f, uintptr_t pc, uint32_t *id)
{
	size_t i = slot(f, pc);
	if (f->index[i]) {
		*id = f->index[i] - 1;
		return 0;
	}
	int r = grow(f);
	if (r < 0)
		return r;
	struct oxa_frame *fr = &f->v[f->n];
	fr->pc = pc;
	if (pc == OXA_PC_KERNEL && f->strs) {
		/* Time in a system call, under the frame that made it. */
		if ((r = oxa_strtab_intern(f->strs, "[kernel]", 8, &fr->func)) < 0)
			return r;
		fr->module = fr->func;
		fr->offset = 0;
	} else if ((r = oxa_symbols_lookup(f->syms, pc, &fr->func, &fr->module,
					  &fr->offset)) < 0) {
		return r;
	}
	f->index[slot(f, pc)] = (uint32_t)f->n + 1;
	*id = (uint32_t)f->n++;
	return 0;
}
