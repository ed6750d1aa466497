/* status.h - the STATUS message: daemon, fleet, budgets, one row per process. */
#ifndef OXD_STATUS_H
#define OXD_STATUS_H

#include "oxp/oxp.h"

struct oxd_server;

/* Append a STATUS frame to out.  Rows: live agents first, then exited
 * processes; if they do not fit one frame, the oldest exited rows are left
 * out and *truncated says how many. */
void oxd_status_encode(struct oxd_server *s, struct oxp_buf *out, uint32_t *truncated);

#endif
