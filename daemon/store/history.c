/*
 * history.c - the aggregate's time axis: per-slot counts of (thread,
 * stack) entries, placed by when the samples were taken.
 *
 * A cell is (entry, slot start, count): it shares the entry's interned
 * thread and stack, so a slot costs 24 bytes per entry it saw, whatever
 * the stack's depth.  Slots are aligned to their width and never overlap:
 * a slot whose whole coarser slot has aged past a tier's keep is merged
 * into it (all the slots of that coarser slot at once), so the slots stay
 * a sorted list of disjoint spans and a window is a contiguous run of them.
 * What passes the history's budget drops the oldest slots, counted.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "ox/index.h"
#include "ox/xalloc.h"

#define CELL_COST (sizeof(struct oxd_hcell) + IDX_SLOT)

static uint32_t cell_key_hash(uint32_t entry, uint32_t start)
{
	return ox_hash_u64((uint64_t)entry << 32 | start);
}

static uint32_t cell_hash(const void *h, uint32_t i)
{
	const struct oxd_hcell *c = &((const struct oxd_hist *)h)->cells[i];
	return cell_key_hash(c->entry, c->start);
}

static int cell_eq(const void *h, uint32_t i, const void *key)
{
	const struct oxd_hcell *c = &((const struct oxd_hist *)h)->cells[i], *k = key;
	return c->entry == k->entry && c->start == k->start;
}

static uint64_t hist_cost(const struct oxd_hist *h)
{
	return h->ncells * CELL_COST + h->nslots * sizeof(struct oxd_hslot);
}

/* Keep mem_used = the rest + what the history holds now. */
static void recharge(struct oxd_agg *a)
{
	struct oxd_hist *h = &a->hist;
	uint64_t m = hist_cost(h);
	a->mem_used = a->mem_used - h->mem + m;
	h->mem = m;
}

void oxd_hist_config(struct oxd_agg *a, const uint32_t width[3], const uint32_t keep[2],
		     uint64_t budget)
{
	struct oxd_hist *h = &a->hist;
	uint32_t w = 1;
	/* Each tier a multiple of the finer one, so slots nest. */
	for (int i = 0; i < 3; i++) {
		uint32_t x = width[i] > w ? width[i] : w;
		h->width[i] = x - x % w;
		w = h->width[i];
	}
	h->keep[0] = keep[0];
	h->keep[1] = keep[1] > keep[0] ? keep[1] : keep[0];
	h->budget = budget;
}

void oxd__hist_init(struct oxd_agg *a)
{
	static const uint32_t w[3] = { OXD_HIST_WIDTH0, OXD_HIST_WIDTH1, OXD_HIST_WIDTH2 };
	static const uint32_t k[2] = { OXD_HIST_KEEP0, OXD_HIST_KEEP1 };
	oxd_hist_config(a, w, k, a->mem_budget / 4);
}

void oxd__hist_destroy(struct oxd_hist *h)
{
	free(h->slots);
	free(h->cells);
	ox_index_destroy(&h->icells);
}

/* The first slot whose end is past t (slots are sorted and disjoint). */
static size_t slot_search(const struct oxd_hist *h, uint32_t t)
{
	size_t lo = 0, hi = h->nslots;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if ((uint64_t)h->slots[mid].start + h->slots[mid].width <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The span a slot [start, start + width) belongs in at now: the coarsest
 * tier whose aligned slot around it ended longer ago than the finer
 * tier's keep. */
static void target(const struct oxd_hist *h, uint32_t start, uint32_t width, uint32_t now,
		   uint32_t *ts, uint32_t *tw)
{
	*ts = start;
	*tw = width;
	for (int k = 2; k >= 1; k--) {
		uint32_t w = h->width[k];
		if (w <= width)
			break;
		uint64_t cs = start - start % w, ce = cs + w;
		/* A slot made under other widths may stick out: cover it. */
		if (ce < (uint64_t)start + width)
			ce = (uint64_t)start + width;
		if (ce <= now && now - ce >= h->keep[k - 1]) {
			*ts = (uint32_t)cs;
			*tw = (uint32_t)(ce - cs);
			return;
		}
	}
}

/* Merge cells that now share a slot, drop empty ones, reindex: one pass
 * over a fresh index (no sort: this runs on the event loop). */
static void cells_rebuild(struct oxd_hist *h)
{
	ox_index_destroy(&h->icells);
	if (ox_index_init(&h->icells, (uint32_t)h->ncells + 1) < 0)
		abort(); /* out of memory is fatal in the daemon */
	size_t n = 0;
	for (size_t i = 0; i < h->ncells; i++) {
		struct oxd_hcell c = h->cells[i];
		if (!c.count)
			continue;
		uint32_t *slot = ox_index_find(&h->icells, cell_key_hash(c.entry, c.start), cell_eq,
					       h, &c);
		if (*slot) {
			h->cells[*slot - 1].count += c.count;
			continue;
		}
		h->cells[n] = c;
		ox_index_add(&h->icells, slot, (uint32_t)n++);
	}
	h->ncells = n;
}

void oxd__hist_compact(struct oxd_agg *a, uint64_t now_ms)
{
	struct oxd_hist *h = &a->hist;
	uint32_t now = (uint32_t)(now_ms / 1000);
	int moved = 0;
	for (size_t i = 0; i < h->nslots && !moved; i++) {
		uint32_t ts, tw;
		target(h, h->slots[i].start, h->slots[i].width, now, &ts, &tw);
		moved = tw != h->slots[i].width;
	}
	if (!moved)
		return;
	/* Old start -> new start, by the slots' order (both sorted). */
	struct oxd_hslot *old = h->slots;
	size_t nold = h->nslots;
	uint32_t *to = ox_xmalloc((nold + 1) * sizeof(*to));
	h->slots = ox_xmalloc((nold + 1) * sizeof(*h->slots));
	h->cap_slots = nold + 1;
	h->nslots = 0;
	for (size_t i = 0; i < nold; i++) {
		uint32_t ts, tw;
		target(h, old[i].start, old[i].width, now, &ts, &tw);
		struct oxd_hslot *last = h->nslots ? &h->slots[h->nslots - 1] : NULL;
		if (last && (uint64_t)last->start + last->width > ts) {
			/* Its span meets the slot before (the same coarser slot,
			 * or slots of widths since changed): one slot, still
			 * disjoint from the rest. */
			uint64_t end = (uint64_t)ts + tw;
			if (end > (uint64_t)last->start + last->width)
				last->width = (uint32_t)(end - last->start);
			last->samples += old[i].samples;
			to[i] = last->start;
			h->merged++;
		} else {
			to[i] = ts;
			h->slots[h->nslots++] = (struct oxd_hslot){ ts, tw, old[i].samples };
		}
	}
	for (size_t i = 0; i < h->ncells; i++) {
		size_t lo = 0, hi = nold;
		while (lo < hi) { /* the old slot starting at the cell's start */
			size_t mid = (lo + hi) / 2;
			if (old[mid].start < h->cells[i].start)
				lo = mid + 1;
			else
				hi = mid;
		}
		h->cells[i].start = to[lo];
	}
	free(old);
	free(to);
	cells_rebuild(h);
	recharge(a);
	a->dirty++;
}

/* Forget the oldest slot, counting its samples as dropped. */
static void drop_oldest(struct oxd_agg *a)
{
	struct oxd_hist *h = &a->hist;
	uint32_t start = h->slots[0].start;
	h->dropped_slots++;
	h->dropped_samples += h->slots[0].samples;
	memmove(h->slots, h->slots + 1, (h->nslots - 1) * sizeof(*h->slots));
	h->nslots--;
	for (size_t i = 0; i < h->ncells; i++)
		if (h->cells[i].start == start)
			h->cells[i].count = 0;
	cells_rebuild(h);
	recharge(a);
}

static int fits(const struct oxd_agg *a, uint64_t cost, uint64_t budget)
{
	return a->hist.mem + cost <= budget &&
	       oxd_agg_mem_total(a) + cost <= oxd__agg_share(a->mem_budget);
}

/* Whether slot i holds time t (s). */
static int holds(const struct oxd_hist *h, size_t i, uint32_t t)
{
	return i < h->nslots && h->slots[i].start <= t &&
	       t < (uint64_t)h->slots[i].start + h->slots[i].width;
}

/*
 * Room for cost more bytes, down to a quarter under the history's budget
 * (the total's share counts too: the rest is headroom for what is in
 * transit): first merge slots as if they were older (a coarser slot holds
 * a stack once for all the finer ones it replaces), doubling the age
 * until every slot is as coarse as it gets; then drop the oldest slots,
 * never the one holding time keep (s).  0, or -1 when even that does not
 * make room.
 */
static int make_room(struct oxd_agg *a, uint64_t cost, uint32_t keep)
{
	struct oxd_hist *h = &a->hist;
	if (fits(a, cost, h->budget) || !h->nslots)
		return fits(a, cost, h->budget) ? 0 : -1;
	uint64_t low = h->budget - h->budget / 4;
	uint64_t now = (uint64_t)h->slots[h->nslots - 1].start + h->slots[h->nslots - 1].width;
	uint64_t most = (uint64_t)h->keep[1] + 2ull * h->width[2];
	for (uint64_t extra = h->width[0]; !fits(a, cost, low); extra *= 2) {
		oxd__hist_compact(a, (now + extra) * 1000);
		if (extra > most)
			break;
	}
	while (h->nslots > 1 && !holds(h, 0, keep) && !fits(a, cost, low))
		drop_oldest(a);
	return fits(a, cost, h->budget) ? 0 : -1;
}

uint32_t oxd__hist_slot(struct oxd_agg *a, uint64_t t_ms, uint64_t now_ms)
{
	struct oxd_hist *h = &a->hist;
	uint32_t t = (uint32_t)(t_ms / 1000);
	size_t i = slot_search(h, t);
	if (i < h->nslots && h->slots[i].start <= t)
		return h->slots[i].start;
	/* A new slot: the moment to merge what has aged (at most once per
	 * finest width while samples arrive), then place t where its age puts
	 * it (a batch held over an outage may belong to a coarse slot). */
	oxd__hist_compact(a, now_ms);
	i = slot_search(h, t);
	if (i < h->nslots && h->slots[i].start <= t)
		return h->slots[i].start;
	uint32_t ts, tw;
	target(h, t - t % h->width[0], h->width[0], (uint32_t)(now_ms / 1000), &ts, &tw);
	if (make_room(a, sizeof(struct oxd_hslot), UINT32_MAX) < 0)
		return UINT32_MAX;
	i = slot_search(h, t); /* make_room may have merged or dropped slots */
	if (holds(h, i, t))
		return h->slots[i].start;
	/* Only slots made under other widths (a snapshot, a changed config)
	 * can meet it: keep to the gap around t. */
	uint64_t end = (uint64_t)ts + tw;
	if (i > 0 && (uint64_t)h->slots[i - 1].start + h->slots[i - 1].width > ts)
		ts = h->slots[i - 1].start + h->slots[i - 1].width;
	if (i < h->nslots && h->slots[i].start < end)
		end = h->slots[i].start;
	tw = (uint32_t)(end - ts);
	ox_xgrow(&h->slots, &h->cap_slots, h->nslots + 1, sizeof(*h->slots));
	memmove(h->slots + i + 1, h->slots + i, (h->nslots - i) * sizeof(*h->slots));
	h->slots[i] = (struct oxd_hslot){ ts, tw, 0 };
	h->nslots++;
	recharge(a);
	return ts;
}

void oxd__hist_add(struct oxd_agg *a, uint32_t start, uint32_t entry, uint64_t count)
{
	struct oxd_hist *h = &a->hist;
	size_t i = slot_search(h, start);
	if (start == UINT32_MAX || !holds(h, i, start)) {
		h->dropped_samples += count;
		return;
	}
	/* Making room for an earlier stack may have merged the slot. */
	start = h->slots[i].start;
	struct oxd_hcell k = { entry, start, 0 };
	uint32_t *slot = h->icells.slots ? ox_index_find(&h->icells, cell_key_hash(entry, start),
							 cell_eq, h, &k) : NULL;
	if (!slot || !*slot) {
		if (make_room(a, CELL_COST, start) < 0) {
			h->dropped_samples += count;
			return;
		}
		i = slot_search(h, start);
		start = k.start = h->slots[i].start;
		ox_xindex_reserve(&h->icells, cell_hash, h);
		slot = ox_index_find(&h->icells, cell_key_hash(entry, start), cell_eq, h, &k);
		if (!*slot) { /* (a merge may have made it) */
			ox_xgrow(&h->cells, &h->cap_cells, h->ncells + 1, sizeof(*h->cells));
			h->cells[h->ncells] = k;
			ox_index_add(&h->icells, slot, (uint32_t)h->ncells++);
			recharge(a);
		}
	}
	h->cells[*slot - 1].count += count;
	h->slots[i].samples += count;
}

void oxd_agg_restore_slot(struct oxd_agg *a, uint32_t start, uint32_t width)
{
	struct oxd_hist *h = &a->hist;
	size_t i = slot_search(h, start);
	if (width == 0 || (i < h->nslots && h->slots[i].start < (uint64_t)start + width))
		return; /* overlaps: a crafted snapshot; its cells go nowhere */
	ox_xgrow(&h->slots, &h->cap_slots, h->nslots + 1, sizeof(*h->slots));
	memmove(h->slots + i + 1, h->slots + i, (h->nslots - i) * sizeof(*h->slots));
	h->slots[i] = (struct oxd_hslot){ start, width, 0 };
	h->nslots++;
	recharge(a);
}

void oxd_agg_restore_cell(struct oxd_agg *a, uint32_t start, uint32_t entry, uint64_t count)
{
	struct oxd_hist *h = &a->hist;
	size_t i = slot_search(h, start);
	if (i >= h->nslots || h->slots[i].start != start || entry >= a->nentries || !count)
		return;
	oxd__hist_add(a, start, entry, count);
}

void oxd__hist_remap(struct oxd_agg *a, const uint32_t *to)
{
	struct oxd_hist *h = &a->hist;
	if (!to) {
		h->nslots = h->ncells = 0;
		ox_index_destroy(&h->icells);
		h->mem = 0;
		return;
	}
	for (size_t i = 0; i < h->nslots; i++)
		h->slots[i].samples = 0;
	for (size_t i = 0; i < h->ncells; i++) {
		struct oxd_hcell *c = &h->cells[i];
		c->entry = to[c->entry];
		if (c->entry == OXD_NONE)
			c->count = 0;
		else
			h->slots[slot_search(h, c->start)].samples += c->count;
	}
	cells_rebuild(h);
	/* Slots left without samples go. */
	size_t n = 0;
	for (size_t i = 0; i < h->nslots; i++)
		if (h->slots[i].samples)
			h->slots[n++] = h->slots[i];
	h->nslots = n;
	h->mem = hist_cost(h); /* reset recounts mem_used from scratch */
}

int oxd_hist_range(const struct oxd_agg *a, uint64_t since_ms, uint64_t until_ms,
		   uint32_t *lo, uint32_t *hi)
{
	const struct oxd_hist *h = &a->hist;
	/* Slots overlapping [since, until): until 0 is open. */
	uint64_t s = since_ms / 1000, u = until_ms ? (until_ms + 999) / 1000 : UINT64_MAX;
	size_t i = slot_search(h, s > UINT32_MAX ? UINT32_MAX : (uint32_t)s), j = i;
	while (j < h->nslots && h->slots[j].start < u)
		j++;
	if (i == j)
		return 0;
	*lo = (uint32_t)i;
	*hi = (uint32_t)j; /* exclusive */
	return 1;
}
