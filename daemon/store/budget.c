/* budget.c - per-uid accounts; see budget.h. */
#include "budget.h"

#include <stdlib.h>
#include <string.h>

#include "ox/xalloc.h"

/* A host has few users: a scan with a one-entry cache is enough. */
struct oxd_uacct *oxd_budget_uid(struct oxd_budget *b, uint32_t uid)
{
	if (b->last < b->nuids && b->uids[b->last].uid == uid)
		return &b->uids[b->last];
	for (size_t i = 0; i < b->nuids; i++)
		if (b->uids[i].uid == uid) {
			b->last = i;
			return &b->uids[i];
		}
	ox_xgrow(&b->uids, &b->cap, b->nuids + 1, sizeof(*b->uids));
	memset(&b->uids[b->nuids], 0, sizeof(*b->uids));
	b->uids[b->nuids].uid = uid;
	b->last = b->nuids;
	return &b->uids[b->nuids++];
}

void oxd_budget_destroy(struct oxd_budget *b)
{
	free(b->uids);
	memset(b, 0, sizeof(*b));
}
