/*
 * buildid.c - which GNU build-id each module has, as agents report it
 * (PROTOCOL.md, SAMPLES `modules`), for pprof mappings.
 *
 * Modules are keyed by path, like frames: when processes report different
 * build-ids for one path (the file was replaced between their starts), the
 * last report wins, so the newest binary is named; frames of the older one
 * share the path's functions anyway.
 */
#include "store.h"

#include <string.h>

#include "ox/xalloc.h"

static int is_hex(const char *p, size_t n)
{
	if (n < 2 || n > 2 * OXP_MAX_BUILD_ID || n % 2)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

void oxd__build_id_set(struct oxd_agg *a, struct oxd_proc *proc, uint32_t module,
		       const char *hex, size_t n)
{
	if (!is_hex(hex, n) || module >= a->nstrs)
		return;
	if (module >= a->cap_build_ids) {
		size_t cap = a->cap_build_ids ? a->cap_build_ids : 64;
		while (cap <= module)
			cap *= 2;
		uint64_t cost = (cap - a->cap_build_ids) * sizeof(*a->build_ids);
		if (proc && oxd__over(a, proc, cost))
			return;
		a->build_ids = ox_xrealloc(a->build_ids, cap * sizeof(*a->build_ids));
		memset(a->build_ids + a->cap_build_ids, 0,
		       (cap - a->cap_build_ids) * sizeof(*a->build_ids));
		a->cap_build_ids = cap;
		a->mem_used += cost;
		if (proc)
			oxd__charge_proc(a, proc, cost);
	}
	uint32_t id = oxd__str_intern(a, hex, n, proc);
	if (id != REFUSED)
		a->build_ids[module] = id + 1;
}
