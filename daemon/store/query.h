/*
 * query.h - answering QUERY commands from the aggregate.
 *
 * oxd_query_new() does all the counting at once and keeps only the sorted
 * row keys; names are resolved while rows are encoded, chunk by chunk, so
 * a caller can stream a large result at the pace its client reads.
 */
#ifndef OXD_QUERY_H
#define OXD_QUERY_H

#include "agg.h"
#include "oxp/oxp.h"

struct oxd_query;

/*
 * Count, filter and sort for cmd (by, sort, limit, selector).  Returns 0
 * with *out (free with oxd_query_free), -OXP_ENOMATCH when the selector's
 * pids/exe match no process row, or -EINVAL for an unknown by/sort.
 */
int oxd_query_new(struct oxd_agg *a, const struct oxp_command *cmd, struct oxd_query **out);
void oxd_query_free(struct oxd_query *q);
void oxd_query_head(const struct oxd_query *q, struct oxp_query_head *h);
/*
 * Append the next QUERY_ROWS frame to out.  Returns 1 when rows remain, 0
 * when that was the last (or there were none: nothing appended), or
 * -ESTALE when the aggregate was reset since the query ran.
 */
int oxd_query_next(struct oxd_query *q, const struct oxd_agg *a, struct oxp_buf *out);

#endif
