/*
 * store.h - what the aggregate's files share and nothing outside the
 * store uses: costs, the refusal marker, budgets checks and the interning
 * of strings, frames, threads and samples with a process's budget.
 */
#ifndef OXD_STORE_H
#define OXD_STORE_H

#include "agg.h"

#define IDX_SLOT 8 /* bytes an index charges per element (half-full slots) */
#define REFUSED UINT32_MAX /* a definition refused over budget */

/* ---- charge.c ---- */

/* The part of a byte limit the aggregate (and its history) may fill; the
 * rest is headroom for what is in transit. */
uint64_t oxd__agg_share(uint64_t limit);
/* Whether cost more bytes for proc would pass the total, the process's or
 * its uid's budget; a refusal is counted. */
int oxd__over(struct oxd_agg *a, struct oxd_proc *p, uint64_t cost);
/* Charge cost (already in mem_used) to a process and its uid. */
void oxd__charge_proc(struct oxd_agg *a, struct oxd_proc *p, uint64_t cost);

/* ---- buildid.c ---- */

/* Note that module (a string id) has build-id hex[0..n) and its file
 * offset 0 at link-time address load, charged to proc (NULL: no check).
 * A build-id of anything but 2..2*OXP_MAX_BUILD_ID lower-case hex digits
 * is ignored ("" says none); everything is over a budget (counted there). */
void oxd__module_set(struct oxd_agg *a, struct oxd_proc *proc, uint32_t module,
		     const char *hex, size_t n, uint64_t load);

/* ---- intern.c ---- */

/* What a string of n bytes costs. */
size_t oxd__str_cost(size_t n);
/* Find or add; budget: charge to proc (NULL: no check).  REFUSED over it. */
uint32_t oxd__str_intern(struct oxd_agg *a, const char *p, size_t n, struct oxd_proc *proc);
uint32_t oxd__frame_intern(struct oxd_agg *a, uint32_t func, uint32_t module, uint64_t off,
			   struct oxd_proc *proc);
uint32_t oxd__thread_intern(struct oxd_agg *a, uint32_t proc, uint32_t tid, uint32_t name,
			    struct oxd_proc *budget);
/* Add count samples of (thread, frames) within budgets (proc NULL: none).
 * 0 or -ENOSPC (refused: over a budget). */
int oxd__add_sample(struct oxd_agg *a, struct oxd_proc *proc, uint32_t thread,
		    const uint32_t *f, uint32_t n, uint64_t count, uint32_t *entry);
/* Count a sample (times count) of a stack in the per-function totals. */
void oxd__count_fns(struct oxd_agg *a, uint32_t stack, uint64_t count);
/* Index the entries afresh (after reset compacted them). */
void oxd__entries_reindex(struct oxd_agg *a);

/* ---- history.c ---- */

void oxd__hist_init(struct oxd_agg *a);
void oxd__hist_destroy(struct oxd_hist *h);
/* The start of the slot for samples taken at t_ms (made if need be), or
 * UINT32_MAX when the history has no room for one. */
uint32_t oxd__hist_slot(struct oxd_agg *a, uint64_t t_ms, uint64_t now_ms);
/* Count samples of an entry in the slot at start (UINT32_MAX: counted as
 * dropped). */
void oxd__hist_add(struct oxd_agg *a, uint32_t start, uint32_t entry, uint64_t count);
/* After reset compacted the entries: old index -> new (OXD_NONE: gone);
 * to NULL: everything went. */
void oxd__hist_remap(struct oxd_agg *a, const uint32_t *to);

#endif
