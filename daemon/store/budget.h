/*
 * budget.h - who holds what: per-uid accounts of the bytes and connections
 * the daemon holds for peers, and of what it refused them.
 *
 * The aggregate (agg.c) embeds one oxd_budget and makes every memory
 * decision against it: the total (aggregate + peers) against mem_budget,
 * and a uid's bytes (what its processes added to the aggregate plus what
 * the daemon holds for its connections) against uid_limit, so one user
 * cannot take what another user's agents or control need.  Connection
 * counts per uid are kept here too (conn.c decides with them).
 * Single-threaded (the event loop).
 */
#ifndef OXD_BUDGET_H
#define OXD_BUDGET_H

#include <stddef.h>
#include <stdint.h>

struct oxd_uacct {
	uint32_t uid;
	uint32_t conns;         /* connections held now, any role */
	uint32_t agents;        /* of which agents */
	uint64_t agg;           /* bytes its processes added to the aggregate */
	uint64_t peers;         /* bytes held for its connections */
	uint64_t refused_mem;   /* charges refused (times) */
	uint64_t refused_conns; /* connections refused or dropped */
	uint64_t dropped;       /* samples refused over a budget */
};

struct oxd_budget {
	uint64_t uid_limit;     /* bytes per uid (agg + peers) */
	uint64_t peers;         /* bytes held for connections, all uids */
	uint64_t refused;       /* charges refused, all uids */
	struct oxd_uacct *uids;
	size_t nuids, cap;
	size_t last;            /* lookup cache */
};

/* The account of uid, created empty on first use.  The pointer is valid
 * until the next oxd_budget_uid call. */
struct oxd_uacct *oxd_budget_uid(struct oxd_budget *b, uint32_t uid);
static inline uint64_t oxd_uacct_mem(const struct oxd_uacct *u)
{
	return u->agg + u->peers;
}
void oxd_budget_destroy(struct oxd_budget *b);

#endif
