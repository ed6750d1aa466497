/*
 * charge.c - the aggregate's memory decisions: what the aggregate may
 * fill, whether a process's addition passes a budget, and the bytes held
 * for peers outside it.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- budgets ---- */

/*
 * The part of a limit the aggregate may fill.  The rest is headroom for
 * what is in transit (a batch being read, replies being written): an agent
 * whose samples fill its budget can still send batches, which are then
 * refused and counted, rather than be cut off.
 */
uint64_t oxd__agg_share(uint64_t limit)
{
	uint64_t room = limit / 8, want = 2 * (uint64_t)OXP_FRAME_MAX + (256u << 10);
	if (room < want)
		room = want < limit / 2 ? want : limit / 2;
	return limit - room;
}

int oxd__over(struct oxd_agg *a, struct oxd_proc *p, uint64_t cost)
{
	struct oxd_uacct *u = oxd_budget_uid(&a->bud, p->uid);
	if (oxd_agg_mem_total(a) + cost <= oxd__agg_share(a->mem_budget) &&
	    p->mem + cost <= a->proc_budget &&
	    oxd_uacct_mem(u) + cost <= oxd__agg_share(a->bud.uid_limit))
		return 0;
	u->refused_mem++;
	a->bud.refused++;
	return 1;
}

void oxd__charge_proc(struct oxd_agg *a, struct oxd_proc *p, uint64_t cost)
{
	p->mem += cost;
	oxd_budget_uid(&a->bud, p->uid)->agg += cost;
}

int oxd_agg_peer_charge(struct oxd_agg *a, uint32_t uid, uint64_t n)
{
	struct oxd_uacct *u = oxd_budget_uid(&a->bud, uid);
	if (oxd_agg_mem_total(a) + n > a->mem_budget || oxd_uacct_mem(u) + n > a->bud.uid_limit) {
		u->refused_mem++;
		a->bud.refused++;
		return -ENOSPC;
	}
	u->peers += n;
	a->bud.peers += n;
	return 0;
}

void oxd_agg_peer_force(struct oxd_agg *a, uint32_t uid, uint64_t n)
{
	oxd_budget_uid(&a->bud, uid)->peers += n;
	a->bud.peers += n;
}

void oxd_agg_peer_release(struct oxd_agg *a, uint32_t uid, uint64_t n)
{
	struct oxd_uacct *u = oxd_budget_uid(&a->bud, uid);
	u->peers -= n < u->peers ? n : u->peers;
	a->bud.peers -= n < a->bud.peers ? n : a->bud.peers;
}
