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
};

/* Append a STATUS frame to out.  Rows: live agents first, then exited
 * processes; if they do not fit one frame, the oldest exited rows are left
 * out and *truncated says how many. */
void oxd_status_encode(const struct oxd_agg *a, const struct oxd_status_daemon *d,
		       struct oxp_buf *out, uint32_t *truncated);

#endif
