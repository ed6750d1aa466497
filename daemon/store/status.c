/* status.c - the STATUS message. */
#include "status.h"

#include <errno.h>
#include <stdlib.h>

#include "ox/xalloc.h"

static const struct oxd_agg *sort_agg;

/* Live agents first, oldest first; then exited processes, newest first,
 * so a cut drops the oldest exited rows. */
static int cmp_proc(const void *x, const void *y)
{
	const struct oxd_proc *p = &sort_agg->procs[*(const uint32_t *)x];
	const struct oxd_proc *q = &sort_agg->procs[*(const uint32_t *)y];
	if (p->live != q->live)
		return p->live ? -1 : 1;
	if (p->connected_ms != q->connected_ms)
		return (p->connected_ms < q->connected_ms) == p->live ? -1 : 1;
	return p->pid < q->pid ? -1 : p->pid > q->pid;
}

static uint64_t exit_ms(const struct oxd_proc *p);

static void fill_row(const struct oxd_agg *a, const struct oxd_proc *p, struct oxp_agent_row *r)
{
	*r = (struct oxp_agent_row){
		.pid = p->pid,
		.uid = p->uid,
		.exe = { a->strs[p->exe].p, a->strs[p->exe].len },
		.state = p->live ? p->state : OXP_AGENT_EXITED,
		.mode = p->mode,
		.hz_requested = p->hz_requested,
		.hz_achieved = p->hz_achieved,
		.source = oxp_str_c(p->source),
		.samples = p->samples,
		.dropped_agent = p->dropped_agent,
		.dropped_daemon = p->dropped_daemon,
		.unwind_fail = p->unwind_fail,
		.connected_ms = p->connected_ms,
		.last_batch_ms = p->last_batch_ms,
		.taken = p->taken,
		.sent = p->sent,
		.flags = p->claimed ? OXP_ROW_CLAIMED : 0,
		.start_time = p->start_time,
		.cpu_user_ms = p->cpu_user_ms,
		.cpu_sys_ms = p->cpu_sys_ms,
		.sampled_user_ms = oxd_proc_user_ms(p),
		.sampled_sys_ms = oxd_proc_sys_ms(p),
		.cpu_covers = p->cpu_covers,
		.ppid = p->ppid,
		.exited_ms = p->live ? 0 : exit_ms(p),
	};
}

/* When an exited row's agent left: rows from older snapshots do not say,
 * and their last batch or connection stands in. */
static uint64_t exit_ms(const struct oxd_proc *p)
{
	if (p->exited_ms)
		return p->exited_ms;
	return p->last_batch_ms > p->connected_ms ? p->last_batch_ms : p->connected_ms;
}

static int selects(const struct oxp_selector *sel)
{
	return sel && (sel->npids || sel->exe.len || sel->tree);
}

static int expired(const struct oxd_proc *p, const struct oxd_status_daemon *d)
{
	return !p->live && d->exited_ttl_ms && d->now_ms > exit_ms(p) &&
	       d->now_ms - exit_ms(p) > d->exited_ttl_ms;
}

void oxd_status_encode(const struct oxd_agg *a, const struct oxd_status_daemon *d,
		       struct oxp_buf *out, uint32_t *truncated)
{
	uint32_t *order = ox_xmalloc((a->nprocs + 1) * sizeof(*order));
	uint32_t n = 0;
	for (size_t i = 0; i < a->nprocs; i++)
		if (!a->procs[i].removed && !expired(&a->procs[i], d) &&
		    (!selects(d->sel) || oxd_agg_proc_match(a, &a->procs[i], d->sel)))
			order[n++] = (uint32_t)i;
	sort_agg = a;
	qsort(order, n, sizeof(*order), cmp_proc);
	struct oxp_agent_row *rows = ox_xmalloc((n + 1) * sizeof(*rows));
	for (uint32_t i = 0; i < n; i++)
		fill_row(a, &a->procs[order[i]], &rows[i]);
	uint32_t nuids = a->bud.nuids > OXP_MAX_ARRAY ? OXP_MAX_ARRAY : (uint32_t)a->bud.nuids;
	struct oxp_uid_row *uids = ox_xmalloc((nuids + 1) * sizeof(*uids));
	for (uint32_t i = 0; i < nuids; i++) {
		const struct oxd_uacct *u = &a->bud.uids[i];
		uids[i] = (struct oxp_uid_row){ u->uid, oxd_uacct_mem(u), u->conns, u->agents,
						u->refused_conns, u->refused_mem, u->dropped };
	}
	struct oxp_msg m = { .type = OXP_MSG_STATUS };
	m.u.status = (struct oxp_status){
		.software = oxp_str_c("oxprofd " OXPROF_VERSION),
		.uptime_ms = d->uptime_ms,
		.fleet = d->fleet,
		.mem_used = oxd_agg_mem_total(a),
		.mem_budget = a->mem_budget,
		.samples = a->samples,
		.dropped = a->dropped,
		.refused_conns = d->refused_conns,
		.mem_peers = a->bud.peers,
		.refused_mem = a->bud.refused,
		.nuids = nuids,
		.uids = uids,
		.hist_slots = a->hist.nslots,
		.hist_bytes = a->hist.mem,
		.hist_merged = a->hist.merged,
		.hist_dropped_slots = a->hist.dropped_slots,
		.hist_dropped_samples = a->hist.dropped_samples,
		.hist_first_ms = a->hist.nslots ? (uint64_t)a->hist.slots[0].start * 1000 : 0,
	};
	uint32_t keep = n > OXP_MAX_ARRAY ? OXP_MAX_ARRAY : n;
	int r;
	/* Too many rows for one frame: leave out the oldest exited ones. */
	while (m.u.status.nagents = keep, m.u.status.agents = rows,
	       (r = oxp_encode(out, &m)) == -EMSGSIZE && keep > 0)
		keep = keep > 16 ? keep * 3 / 4 : keep - 1;
	if (r == -ENOMEM)
		abort();
	*truncated = n - keep;
	free(uids);
	free(rows);
	free(order);
}
