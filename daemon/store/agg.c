/*
 * agg.c - the aggregate's life: made empty, and freed.  Its tables are
 * intern.c's, process rows procs.c's, batches ingest.c's, budgets
 * charge.c's, reset reset.c's.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "index.h"

void oxd_agg_init(struct oxd_agg *a, uint64_t mem_budget, uint64_t proc_budget)
{
	memset(a, 0, sizeof(*a));
	a->mem_budget = mem_budget;
	a->proc_budget = proc_budget;
	a->bud.uid_limit = mem_budget;
	oxd_agg_str(a, "", 0); /* string 0 is "", for unnamed things */
}

void oxd_agg_destroy(struct oxd_agg *a)
{
	oxd__arena_free(a);
	oxd_index_destroy(&a->istrs);
	oxd_index_destroy(&a->iframes);
	oxd_index_destroy(&a->ifns);
	oxd_index_destroy(&a->istacks);
	oxd_index_destroy(&a->ithreads);
	oxd_index_destroy(&a->ientries);
	free(a->strs);
	free(a->frames);
	free(a->fns);
	free(a->stacks);
	free(a->stack_frames);
	free(a->threads);
	free(a->entries);
	free(a->procs);
	oxd_budget_destroy(&a->bud);
	memset(a, 0, sizeof(*a));
}
