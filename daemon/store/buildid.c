/*
 * buildid.c - which GNU build-id each module has and where its file
 * offset 0 lies in its link-time addresses, as agents report it
 * (PROTOCOL.md, SAMPLES `modules`), for pprof mappings.
 *
 * Modules are keyed by path, like frames: when processes report different
 * build-ids for one path (the file was replaced between their starts), the
 * last report wins, so the newest binary is named; frames of the older one
 * share the path's functions anyway.  A report without a build-id keeps
 * the one known.
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

void oxd__module_set(struct oxd_agg *a, struct oxd_proc *proc, uint32_t module,
		     const char *hex, size_t n, uint64_t load)
{
	if (module >= a->nstrs)
		return;
	if (module >= a->cap_build_ids) {
		size_t cap = a->cap_build_ids ? a->cap_build_ids : 64;
		while (cap <= module)
			cap *= 2;
		size_t old = a->cap_build_ids, more = cap - old;
		uint64_t cost = more * (sizeof(*a->build_ids) + sizeof(*a->module_loads));
		if (proc && oxd__over(a, proc, cost))
			return;
		a->build_ids = ox_xrealloc(a->build_ids, cap * sizeof(*a->build_ids));
		a->module_loads = ox_xrealloc(a->module_loads, cap * sizeof(*a->module_loads));
		memset(a->build_ids + old, 0, more * sizeof(*a->build_ids));
		memset(a->module_loads + old, 0, more * sizeof(*a->module_loads));
		a->cap_build_ids = cap;
		a->mem_used += cost;
		if (proc)
			oxd__charge_proc(a, proc, cost);
	}
	a->module_loads[module] = load;
	if (!is_hex(hex, n))
		return;
	uint32_t id = oxd__str_intern(a, hex, n, proc);
	if (id != REFUSED)
		a->build_ids[module] = id + 1;
}
