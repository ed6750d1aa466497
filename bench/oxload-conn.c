/*
 * oxload-conn.c - one connection to oxprofd as an agent or a control
 * peer, and batches built with incremental definitions (oxload.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oxp/oxp.h"
#include "oxload.h"


uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}


/* ---- one connection ---- */

void die(const char *what, int r)
{
	fprintf(stderr, "oxload[%d]: %s: %s\n", (int)getpid(), what,
		r < 0 ? oxp_strerror(r) : "failed");
	exit(1);
}

int send_msg(struct conn *c, const struct oxp_msg *m)
{
	oxp_buf_reset(&c->out);
	int r = oxp_encode(&c->out, m);
	if (r < 0)
		return r;
	return oxp_send_all(c->fd, c->out.data, c->out.len, TIMEOUT_MS);
}

int hello(struct conn *c, const char *sock, int role)
{
	memset(c, 0, sizeof(*c));
	int r;
	if ((r = oxp_connect(sock, &c->fd)) < 0)
		return r;
	if ((r = oxp_reader_init(&c->rd, 0)) < 0 ||
	    (r = oxp_decoder_new(&c->dec)) < 0)
		return r;
	oxp_buf_init(&c->out);
	struct oxp_msg m = { .type = OXP_MSG_HELLO };
	m.u.hello.role = (uint8_t)role;
	m.u.hello.pid = (int32_t)getpid();
	m.u.hello.exe = oxp_str_c("/usr/local/bin/oxload-agent");
	m.u.hello.cmdline = oxp_str_c("oxload-agent --simulated");
	m.u.hello.software = oxp_str_c(role == OXP_ROLE_AGENT ? "liboxprof 0.1.0 (oxload)"
							      : "oxprofctl 0.1.0 (oxload)");
	if ((r = send_msg(c, &m)) < 0)
		return r;
	struct oxp_msg in;
	if ((r = oxp_recv_msg(c->fd, &c->rd, c->dec, &in, TIMEOUT_MS)) < 0)
		return r;
	if (in.type == OXP_MSG_ERROR) {
		fprintf(stderr, "oxload: daemon refused HELLO: %.*s\n",
			(int)in.u.error.message.len, in.u.error.message.ptr);
		return in.u.error.code ? in.u.error.code : -EPROTO;
	}
	if (in.type != OXP_MSG_WELCOME)
		return -EPROTO;
	return 0;
}

static void fill_stats(struct conn *c, struct oxp_agent_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->state = OXP_AGENT_RUNNING;
	s->mode = OXP_MODE_CPU;
	s->hz_requested = 1000;
	s->hz_achieved = 1000.0;
	s->source = oxp_str_c("oxload");
	s->taken = c->taken;
	s->sent = c->acked;
}

/*
 * Wait for the ACK of batch seq, answering SET_STATE on the way.  Returns
 * accepted + refused via the pointers, or an error.
 */
static int wait_ack(struct conn *c, uint64_t seq, uint64_t *acc, uint64_t *ref)
{
	for (;;) {
		struct oxp_msg in;
		int r = oxp_recv_msg(c->fd, &c->rd, c->dec, &in, TIMEOUT_MS);
		if (r < 0)
			return r;
		switch (in.type) {
		case OXP_MSG_SAMPLES_ACK:
			if (in.u.samples_ack.seq != seq)
				continue; /* not ours: keep waiting */
			*acc = in.u.samples_ack.accepted;
			*ref = in.u.samples_ack.refused;
			return 0;
		case OXP_MSG_SET_STATE: {
			uint64_t s = in.u.set_state.seq;
			struct oxp_msg m = { .type = OXP_MSG_AGENT_STATE };
			fill_stats(c, &m.u.agent_state);
			m.u.agent_state.ack_seq = s;
			if ((r = send_msg(c, &m)) < 0)
				return r;
			continue;
		}
		case OXP_MSG_ERROR:
			fprintf(stderr, "oxload[%d]: daemon error %d: %.*s\n",
				(int)getpid(), in.u.error.code,
				(int)in.u.error.message.len, in.u.error.message.ptr);
			return in.u.error.code ? in.u.error.code : -EPROTO;
		case OXP_MSG_BYE:
			return -ECONNRESET;
		default:
			continue;
		}
	}
}

/* ---- batch building with incremental definitions ---- */

void gen_init(struct gen *g, unsigned nfuncs, unsigned max_stacks, unsigned depth)
{
	memset(g, 0, sizeof(*g));
	g->nfuncs = nfuncs;
	g->module_id = nfuncs;
	g->thread_name = nfuncs + 1;
	g->defined = calloc(nfuncs, 1);
	g->names = calloc(nfuncs, sizeof(*g->names));
	size_t maxdefs = (size_t)max_stacks * depth + 8;
	if (maxdefs > (size_t)nfuncs + 8)
		maxdefs = (size_t)nfuncs + 8;
	g->strs = calloc(maxdefs + 4, sizeof(*g->strs));
	g->frames = calloc(maxdefs, sizeof(*g->frames));
	g->stacks = calloc(max_stacks, sizeof(*g->stacks));
	g->ids = calloc((size_t)max_stacks * depth, sizeof(*g->ids));
	if (!g->defined || !g->names || !g->strs || !g->frames || !g->stacks || !g->ids)
		die("out of memory", -ENOMEM);
	for (unsigned i = 0; i < nfuncs; i++) {
		if (i == 0)
			snprintf(g->names[i], sizeof(g->names[i]), "_start");
		else if (i == 1)
			snprintf(g->names[i], sizeof(g->names[i]), "main");
		else if (i == 2)
			snprintf(g->names[i], sizeof(g->names[i]), "worker_loop");
		else
			snprintf(g->names[i], sizeof(g->names[i]), "fn_%u", i);
	}
	for (unsigned k = 0; k < 4; k++)
		g->tids[k] = (uint32_t)getpid() * 4u + k; /* any distinct numbers */
}

void gen_reset(struct gen *g)
{
	g->nstrs = g->nframes = g->nstacks = g->nids = 0;
}

static void def_frame(struct gen *g, uint32_t id)
{
	if (g->defined[id])
		return;
	g->defined[id] = 1;
	if (!g->module_defined) {
		g->module_defined = 1;
		g->strs[g->nstrs++] = (struct oxp_str_def){ g->module_id,
			oxp_str_c("/usr/lib/libsimulated.so") };
	}
	g->strs[g->nstrs++] = (struct oxp_str_def){ id, oxp_str_c(g->names[id]) };
	g->frames[g->nframes++] = (struct oxp_frame_def){ id, id, g->module_id,
							  0x1000u + 64u * id };
}

/* Add a stack of depth frames (ids leaf first) for thread slot t. */
void add_stack(struct gen *g, const uint32_t *ids, unsigned depth, unsigned t, uint32_t count)
{
	if (!g->threads_defined) {
		g->threads_defined = 1;
		g->strs[g->nstrs++] = (struct oxp_str_def){ g->thread_name,
			oxp_str_c("worker") };
	}
	for (unsigned i = 0; i < depth; i++) {
		def_frame(g, ids[i]);
		g->ids[g->nids + i] = ids[i];
	}
	g->stacks[g->nstacks++] = (struct oxp_stack){ g->tids[t & 3], OXP_TS_RUNNING,
						      count, depth, g->ids + g->nids };
	g->nids += depth;
}

int send_batch(struct conn *c, struct gen *g, uint64_t samples, uint64_t *acc, uint64_t *ref)
{
	static int threads_sent;
	struct oxp_msg m = { .type = OXP_MSG_SAMPLES };
	struct oxp_samples *s = &m.u.samples;
	s->seq = ++c->seq;
	s->nstrings = g->nstrs;
	s->strings = g->strs;
	s->nframes = g->nframes;
	s->frames = g->frames;
	if (!threads_sent) {
		for (unsigned k = 0; k < 4; k++)
			g->threads[k] = (struct oxp_thread_def){ g->tids[k], g->thread_name };
		s->nthreads = 4;
		s->threads = g->threads;
		threads_sent = 1;
	}
	s->nstacks = g->nstacks;
	s->stacks = g->stacks;
	c->taken += samples;
	fill_stats(c, &s->stats);
	int r = send_msg(c, &m);
	if (r < 0)
		return r;
	if ((r = wait_ack(c, s->seq, acc, ref)) < 0)
		return r;
	c->acked += *acc + *ref;
	return 0;
}
