/* status.h - the STATUS message: daemon, fleet, budgets, one row per process. */
#ifndef OXD_STATUS_H
#define OXD_STATUS_H

#include "agg.h"
#include "oxp/oxp.h"

/* What STATUS says of the daemon beside the aggregate. */
struct oxd_status_daemon {
	struct oxp_fleet fleet;
	uint64_t uptime_ms;
	uint64_t refused_conns;
	uint64_t now_ms;        /* Unix ms */
	uint64_t exited_ttl_ms; /* exited rows older than this are left out; 0 never */
	const struct oxp_selector *sel; /* only the rows it selects (pids, exe, tree) */
};

/* Append a STATUS frame to out.  Rows: live agents first, then exited
 * processes whose agent left within exited_ttl_ms (older ones expire from
 * status; their samples stay in the aggregate); if they do not fit one
 * frame, the oldest exited rows are left out and *truncated says how many. */
void oxd_status_encode(const struct oxd_agg *a, const struct oxd_status_daemon *d,
		       struct oxp_buf *out, uint32_t *truncated);

#endif
