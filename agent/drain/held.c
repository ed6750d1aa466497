/*
 * held.c - the delivery log (agent.h, struct oxa_held): every SAMPLES
 * batch sent and not yet durable in the daemon, with the pending-table
 * entries and counts it carried, settled by what the daemon says
 * (SAMPLES_ACK, DURABLE, WELCOME) or abandoned at exit.  Drain thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "grow.h"

int oxa_held_reserve(struct oxa_agent *a, size_t n)
{
	struct oxa_held *h = &a->conn.held;
	if (oxa_grow(&h->b, &h->cap_b, h->nb + 1, sizeof(*h->b)) < 0 ||
	    oxa_grow(&h->r, &h->cap_r, h->nr + n, sizeof(*h->r)) < 0)
		return -ENOMEM;
	return 0;
}

void oxa_held_push(struct oxa_agent *a, uint64_t seq, uint64_t first_ms, uint64_t last_ms,
		   const struct oxa_held_rec *recs, size_t n)
{
	struct oxa_held *h = &a->conn.held;
	struct oxa_held_batch *hb = &h->b[h->nb++];
	*hb = (struct oxa_held_batch){ .seq = seq, .first_ms = first_ms, .last_ms = last_ms,
				       .rec_off = (uint32_t)h->nr, .nrec = (uint32_t)n };
	for (size_t i = 0; i < n; i++) {
		h->r[h->nr++] = recs[i];
		hb->samples += recs[i].count;
	}
	uint64_t held = oxa_held_samples(a);
	h->peak_nb = h->nb > h->peak_nb ? h->nb : h->peak_nb;
	h->peak_nr = h->nr > h->peak_nr ? h->nr : h->peak_nr;
	h->peak_samples = held > h->peak_samples ? held : h->peak_samples;
}

int oxa_held_room(struct oxa_agent *a)
{
	struct oxa_held *h = &a->conn.held;
	if (!h->max_r)
		h->max_r = a->pending.ents_cap * OXA_HELD_PER_ENT;
	size_t need = 0;
	for (size_t i = 0; i < a->pending.nents; i++)
		need += a->pending.ents[i].pending != 0;
	return h->nr + need <= h->max_r;
}

void oxa_pending_span(struct oxa_agent *a, uint64_t first_ms, uint64_t last_ms)
{
	if (first_ms && (!a->pend_first_ms || first_ms < a->pend_first_ms))
		a->pend_first_ms = first_ms;
	if (last_ms > a->pend_last_ms)
		a->pend_last_ms = last_ms;
}

uint64_t oxa_held_samples(const struct oxa_agent *a)
{
	uint64_t n = 0;
	for (size_t i = 0; i < a->conn.held.nb; i++)
		n += a->conn.held.b[i].samples;
	return n;
}

void oxa_held_compact(struct oxa_agent *a)
{
	struct oxa_held *h = &a->conn.held;
	oxa_stacks_compact(&a->pending);
	for (size_t i = 0; i < h->nr; i++)
		h->r[i].ent = a->pending.moved[h->r[i].ent];
}

/* Take batch i's samples out of the table's inflight counts; back into
 * pending when requeue. */
static void release(struct oxa_agent *a, const struct oxa_held_batch *hb, int requeue)
{
	const struct oxa_held_rec *r = a->conn.held.r + hb->rec_off;
	for (uint32_t i = 0; i < hb->nrec; i++) {
		struct oxa_stack_ent *e = &a->pending.ents[r[i].ent];
		e->inflight -= r[i].count;
		if (requeue)
			e->pending += r[i].count;
	}
}

/* Forget the first n batches of the log. */
static void forget(struct oxa_agent *a, size_t n)
{
	struct oxa_held *h = &a->conn.held;
	if (!n)
		return;
	size_t nrec = n < h->nb ? h->b[n].rec_off : h->nr;
	memmove(h->b, h->b + n, (h->nb - n) * sizeof(*h->b));
	h->nb -= n;
	memmove(h->r, h->r + nrec, (h->nr - nrec) * sizeof(*h->r));
	h->nr -= nrec;
	for (size_t i = 0; i < h->nb; i++)
		h->b[i].rec_off -= (uint32_t)nrec;
	oxa_held_compact(a);
}

void oxa_held_durable(struct oxa_agent *a, uint64_t seq)
{
	struct oxa_held *h = &a->conn.held;
	size_t n = 0;
	for (; n < h->nb && h->b[n].seq <= seq; n++) {
		struct oxa_held_batch *hb = &h->b[n];
		/* Without an ack (lost with a connection) the split between
		 * accepted and refused is the daemon's to tell. */
		a->sent += hb->acked ? hb->accepted + hb->refused : hb->samples;
		a->refused += hb->acked ? hb->refused : 0;
		release(a, hb, 0);
	}
	forget(a, n);
}

void oxa_held_ack(struct oxa_agent *a, const struct oxp_samples_ack *k)
{
	struct oxa_held *h = &a->conn.held;
	for (size_t i = 0; i < h->nb; i++)
		if (h->b[i].seq == k->seq) {
			h->b[i].acked = 1;
			h->b[i].accepted = k->accepted;
			h->b[i].refused = k->refused;
			break;
		}
	oxa_held_durable(a, k->durable);
}

void oxa_held_welcome(struct oxa_agent *a, uint64_t durable, uint64_t received)
{
	struct oxa_held *h = &a->conn.held;
	oxa_held_durable(a, durable);
	size_t keep = 0;
	while (keep < h->nb && h->b[keep].seq <= received)
		keep++;
	if (keep == h->nb)
		return;
	/* The daemon never got these (or lost them in a crash): send again,
	 * with the times they were taken. */
	for (size_t i = keep; i < h->nb; i++) {
		release(a, &h->b[i], 1);
		oxa_pending_span(a, h->b[i].first_ms, h->b[i].last_ms);
	}
	h->nr = keep < h->nb ? h->b[keep].rec_off : h->nr;
	h->nb = keep;
}

void oxa_held_abandon(struct oxa_agent *a)
{
	struct oxa_held *h = &a->conn.held;
	for (size_t i = 0; i < h->nb; i++) {
		struct oxa_held_batch *hb = &h->b[i];
		if (hb->acked) {
			a->sent += hb->accepted + hb->refused;
			a->refused += hb->refused;
		} else {
			a->dropped_full += hb->samples;
		}
		release(a, hb, 0);
	}
	h->nb = h->nr = 0;
	oxa_held_compact(a);
}
