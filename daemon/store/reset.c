/*
 * reset.c - forgetting samples, of every process or of the selected ones,
 * and recounting what is left.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ox/index.h"
#include "ox/xalloc.h"

/* What the dictionary (strings, frames, functions, threads) costs. */
static uint64_t dict_cost(const struct oxd_agg *a)
{
	uint64_t m = 0;
	for (size_t i = 0; i < a->nstrs; i++)
		m += oxd__str_cost(a->strs[i].len);
	m += a->nframes * (sizeof(struct oxd_frame) + IDX_SLOT);
	m += a->nfns * (sizeof(struct oxd_fn) + IDX_SLOT);
	m += a->nthreads * (sizeof(struct oxd_thread) + IDX_SLOT);
	m += a->cap_build_ids * (sizeof(*a->build_ids) + sizeof(*a->module_loads));
	return m;
}

/* Recount stacks and functions from the entries that are left. */
static void recount(struct oxd_agg *a)
{
	for (size_t i = 0; i < a->nstacks; i++)
		a->stacks[i].count = 0;
	for (size_t i = 0; i < a->nfns; i++)
		a->fns[i].self = a->fns[i].total = 0;
	for (size_t i = 0; i < a->nentries; i++) {
		a->stacks[a->entries[i].stack].count += a->entries[i].count;
		oxd__count_fns(a, a->entries[i].stack, a->entries[i].count);
	}
}

static void forget_proc(struct oxd_agg *a, struct oxd_proc *p)
{
	a->samples -= p->samples;
	a->dropped -= p->dropped_daemon;
	p->samples = p->dropped_daemon = 0;
	p->first_ms = p->last_ms = 0;
	p->mem = 0;
	/* The CPU time of the samples kept starts now too. */
	p->base_user_ms = p->sampled_user_ms;
	p->base_sys_ms = p->sampled_sys_ms;
	if (!p->live)
		p->removed = 1;
}

uint32_t oxd_agg_reset(struct oxd_agg *a, int (*proc_match)(const struct oxd_proc *, void *),
		       void *arg)
{
	uint32_t cleared = 0;
	uint8_t *hit = ox_xcalloc(a->nprocs + 1, 1);
	for (size_t i = 0; i < a->nprocs; i++) {
		if (a->procs[i].removed || (proc_match && !proc_match(&a->procs[i], arg)))
			continue;
		hit[i] = 1;
		cleared++;
		struct oxd_uacct *u = oxd_budget_uid(&a->bud, a->procs[i].uid);
		u->agg -= a->procs[i].mem < u->agg ? a->procs[i].mem : u->agg;
		forget_proc(a, &a->procs[i]);
	}
	size_t kept = 0;
	if (proc_match) {
		uint32_t *to = ox_xmalloc((a->nentries + 1) * sizeof(*to));
		for (size_t i = 0; i < a->nentries; i++) {
			to[i] = OXD_NONE;
			if (!hit[a->threads[a->entries[i].thread].proc]) {
				to[i] = (uint32_t)kept;
				a->entries[kept++] = a->entries[i];
			}
		}
		oxd__hist_remap(a, to);
		free(to);
	} else {
		oxd__hist_remap(a, NULL);
		a->nstacks = a->nstack_frames = 0;
		ox_index_destroy(&a->istacks);
		/* What is left (the dictionary, live rows) is nobody's now. */
		for (size_t i = 0; i < a->bud.nuids; i++)
			a->bud.uids[i].agg = 0;
	}
	free(hit);
	a->nentries = kept;
	oxd__entries_reindex(a);
	recount(a);
	uint64_t m = dict_cost(a);
	for (size_t i = 0; i < a->nstacks; i++)
		m += sizeof(struct oxd_stack) + IDX_SLOT + a->stacks[i].n * sizeof(uint32_t);
	a->mem_used = m + a->nentries * (sizeof(struct oxd_entry) + IDX_SLOT) +
		      a->nprocs * sizeof(struct oxd_proc) + a->hist.mem;
	a->generation++;
	a->dirty++;
	return cleared;
}
