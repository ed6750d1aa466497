/*
 * fuzz-ingest.c - libFuzzer target for the daemon's ingest path: a stream of
 * frames goes through the reader and the decoder, and each message does to
 * the aggregate what a daemon connection does with it: HELLO attaches a
 * process row (a new "connection"; the previous one closes), SAMPLES are
 * ingested into the connection's id maps, AGENT_STATE updates the row,
 * COMMAND reset forgets and COMMAND query counts.  Each frame's bytes are
 * charged to its uid while it is handled, as the daemon's reader is.
 *
 * The last input byte picks the budgets (small, so they are reached) and
 * how reads are cut; the whole input is the stream, so message seeds work.  After every step the books must hold: a batch's
 * accepted + refused equal its samples, nothing is ever over a budget, an
 * unfiltered query counts exactly the accepted samples, and once every
 * connection is gone nothing is charged to peers any more.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agg.h"
#include "oxp/oxp.h"
#include "query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                        \
	do {                            \
		if (!(c))               \
			__builtin_trap(); \
	} while (0)

struct sim {
	struct oxd_agg a;
	struct oxd_ingest g;
	int open;             /* a connection is attached */
	uint32_t uid;
	struct oxd_uacct u;   /* scratch */
};

static void check_books(struct sim *s)
{
	struct oxd_agg *a = &s->a;
	CHECK(oxd_agg_mem_total(a) <= a->mem_budget);
	uint64_t peers = 0;
	for (size_t i = 0; i < a->bud.nuids; i++) {
		CHECK(oxd_uacct_mem(&a->bud.uids[i]) <= a->bud.uid_limit);
		peers += a->bud.uids[i].peers;
	}
	CHECK(peers == a->bud.peers);
	uint64_t samples = 0, dropped = 0;
	for (size_t i = 0; i < a->nprocs; i++) {
		CHECK(a->procs[i].mem <= a->proc_budget);
		samples += a->procs[i].samples;
		dropped += a->procs[i].dropped_daemon;
	}
	CHECK(samples == a->samples && dropped == a->dropped);
}

static void close_conn(struct sim *s)
{
	if (!s->open)
		return;
	oxd_agg_proc_detach(&s->a, s->g.proc, 1);
	oxd_ingest_destroy(&s->a, &s->g);
	s->open = 0;
}

static void hello(struct sim *s, const struct oxp_hello *h)
{
	close_conn(s);
	/* A few users and processes; odd pids cannot be verified. */
	struct oxd_ident id = { .pid = h->pid % 8, .uid = (uint32_t)h->pid % 3,
				.start_time = (uint64_t)h->pid / 8, .exe = h->exe,
				.cmdline = h->cmdline, .claimed = h->pid & 1 };
	uint32_t proc;
	if (oxd_agg_proc_attach(&s->a, &id, 1, &proc) < 0)
		return; /* refused: the daemon closes the connection */
	oxd_ingest_init(&s->g, proc);
	s->uid = id.uid;
	s->open = 1;
}

static void samples(struct sim *s, const struct oxp_samples *b)
{
	if (!s->open)
		return;
	uint64_t want = 0, acc, ref;
	for (uint32_t i = 0; i < b->nstacks; i++)
		want += b->stacks[i].count;
	uint64_t before = s->a.samples + s->a.dropped;
	int r = oxd_agg_ingest(&s->a, &s->g, b, 2, &acc, &ref);
	if (r < 0) {
		CHECK(r == -OXP_ESHAPE || r == -OXP_ELIMIT || r == -ENOSPC);
		CHECK(s->a.samples + s->a.dropped == before); /* nothing counted */
		close_conn(s);
		return;
	}
	CHECK(acc + ref == want);
	CHECK(s->a.samples + s->a.dropped == before + want);
}

static int match(const struct oxd_proc *p, void *arg)
{
	void **x = arg;
	return oxd_agg_proc_match(x[0], p, x[1]);
}

static void command(struct sim *s, const struct oxp_command *c)
{
	if (c->cmd == OXP_CMD_RESET) {
		if (c->sel.npids || c->sel.exe.len) {
			void *x[2] = { &s->a, (void *)&c->sel };
			oxd_agg_reset(&s->a, match, x);
		} else {
			oxd_agg_reset(&s->a, NULL, NULL);
			CHECK(s->a.samples == 0 && s->a.dropped == 0);
		}
		return;
	}
	if (c->cmd != OXP_CMD_QUERY)
		return;
	struct oxp_command q = *c;
	q.sel = (struct oxp_selector){ 0 };
	q.limit = 0;
	struct oxd_query *qq;
	if (oxd_query_new(&s->a, &q, &qq) == 0) {
		struct oxp_query_head h;
		oxd_query_head(qq, &h);
		CHECK(h.total == s->a.samples);
		oxd_query_free(qq);
	}
	if (oxd_query_new(&s->a, c, &qq) == 0) { /* the fuzzed selector too */
		struct oxp_buf out;
		oxp_buf_init(&out);
		int r;
		while ((r = oxd_query_next(qq, &s->a, &out)) == 1)
			oxp_buf_reset(&out);
		CHECK(r == 0);
		oxp_buf_destroy(&out);
		oxd_query_free(qq);
	}
}

static void handle(struct sim *s, struct oxp_decoder *d, const uint8_t *f, size_t len)
{
	struct oxp_msg m;
	if (oxp_decoder_decode(d, f, len, &m, NULL) < 0)
		return;
	/* The frame is held while it is handled, charged like the reader. */
	uint32_t uid = s->open ? s->uid : 0;
	if (oxd_agg_peer_charge(&s->a, uid, len + OXP_FRAME_HDR) < 0) {
		close_conn(s);
		return;
	}
	switch (m.type) {
	case OXP_MSG_HELLO: hello(s, &m.u.hello); break;
	case OXP_MSG_SAMPLES: samples(s, &m.u.samples); break;
	case OXP_MSG_AGENT_STATE:
		if (s->open)
			oxd_agg_proc_stats(&s->a, s->g.proc, &m.u.agent_state);
		break;
	case OXP_MSG_COMMAND: command(s, &m.u.command); break;
	default: break;
	}
	oxd_agg_peer_release(&s->a, uid, len + OXP_FRAME_HDR);
	check_books(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static struct sim s;
	memset(&s, 0, sizeof(s));
	uint8_t cfg = data[size - 1];
	uint64_t budget = (uint64_t)64 << 10 << (cfg & 7);
	oxd_agg_init(&s.a, budget, budget / 2 + 4096);
	s.a.bud.uid_limit = cfg & 8 ? budget : budget * 3 / 4;
	struct oxp_decoder *d;
	struct oxp_reader r;
	if (oxp_decoder_new(&d) < 0 || oxp_reader_init(&r, 64 * 1024) < 0)
		__builtin_trap();
	size_t chunk = (size_t)(cfg >> 4) * 16 + 1, off = 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t took = oxp_reader_feed(&r, data + off, n);
		if (took < 0)
			break;
		off += (size_t)took;
		const uint8_t *f;
		size_t len;
		int e;
		while ((e = oxp_reader_next(&r, &f, &len)) == 1)
			handle(&s, d, f, len);
		if (e < 0 || (took == 0 && e == 0))
			break;
	}
	close_conn(&s);
	check_books(&s);
	CHECK(s.a.bud.peers == 0); /* every charge for a connection came back */
	oxp_reader_destroy(&r);
	oxp_decoder_free(d);
	oxd_agg_destroy(&s.a);
	return 0;
}
