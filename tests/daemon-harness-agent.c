/* daemon-harness-agent.c - the fake agent of daemon-harness.h: ids,
 * batches, acks and states over a real connection. */
#include "daemon-harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "task.h"

/* ---- fake agent ---- */

int oxt_agent_join(struct oxt_agent *a, const struct oxt_daemon *d, const char *exe)
{
	memset(a, 0, sizeof(*a));
	int r = oxt_peer_open(&a->p, d, OXP_ROLE_AGENT, exe, NULL, 0);
	if (r == 0) {
		a->fleet = a->p.welcome.fleet;
		a->seq = a->p.welcome.seq;
	}
	return r;
}

static uint32_t name_id(struct oxt_agent *a, const char *s, size_t n)
{
	for (uint32_t i = 0; i < a->nnames; i++)
		if (strlen(a->names[i]) == n && memcmp(a->names[i], s, n) == 0)
			return i;
	ASSERT(a->nnames < OXT_MAX_NAMES);
	a->names[a->nnames] = strndup(s, n);
	return a->nnames++;
}

void oxt_agent_add(struct oxt_agent *a, uint32_t tid, const char *tname, const char *folded,
		   uint32_t count)
{
	int t;
	for (t = 0; t < a->ntids && a->tids[t] != tid; t++)
		;
	if (t == a->ntids) {
		ASSERT(a->ntids < 64);
		a->tids[a->ntids] = tid;
		a->tid_names[a->ntids++] = name_id(a, tname, strlen(tname));
	}
	uint32_t ids[512], n = 0;
	for (const char *s = folded; *s;) {
		const char *e = strchr(s, ';');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		ASSERT(n < 512);
		ids[n++] = name_id(a, s, len);
		s += len + (e ? 1 : 0);
	}
	ASSERT(a->nstacks < 1024 && a->nframes_used + n <= 1024 * 64);
	struct oxp_stack *st = &a->stacks[a->nstacks++];
	st->tid = tid;
	st->count = count;
	st->nframes = n;
	st->frames = a->frames + a->nframes_used;
	for (uint32_t i = 0; i < n; i++) /* leaf first */
		a->frames[a->nframes_used + i] = ids[n - 1 - i];
	a->nframes_used += n;
}

/* Split "module!func": returns the module string id, sets the func part. */
static uint32_t frame_parts(struct oxt_agent *a, uint32_t id, struct oxp_str *func)
{
	const char *s = a->names[id], *bang = strchr(s, '!');
	*func = oxp_str_c(bang ? bang + 1 : s);
	return bang ? name_id(a, s, (size_t)(bang - s)) : name_id(a, "libtest.so", 10);
}

static void fill_stats(struct oxt_agent *a, struct oxp_agent_stats *st)
{
	*st = (struct oxp_agent_stats){ .ack_seq = a->seq, .state = a->state,
					.hz_requested = a->fleet.hz, .hz_achieved = a->fleet.hz,
					.source = oxp_str_c("fake") };
}

int oxt_agent_send(struct oxt_agent *a)
{
	/* Frame i is the func part of name i, in its module part; strings
	 * are the names themselves plus the func parts. */
	static struct oxp_str_def sd[3 * OXT_MAX_NAMES];
	static struct oxp_frame_def fd[OXT_MAX_NAMES];
	static struct oxp_thread_def td[64];
	uint32_t nsd = 0, nfd = 0, ntd = 0, first = a->defined_names;
	uint32_t nn = a->nnames;
	for (uint32_t i = first; i < nn; i++) { /* intern the parts first */
		struct oxp_str func;
		frame_parts(a, i, &func);
		name_id(a, func.ptr, func.len);
	}
	for (uint32_t i = first; i < a->nnames; i++)
		sd[nsd++] = (struct oxp_str_def){ i, oxp_str_c(a->names[i]) };
	for (uint32_t i = first; i < a->nnames; i++) {
		struct oxp_str func;
		uint32_t mod = frame_parts(a, i, &func);
		fd[nfd++] = (struct oxp_frame_def){ i, name_id(a, func.ptr, func.len), mod, i * 16 };
	}
	a->defined_names = a->nnames;
	for (int i = a->defined_tids; i < a->ntids; i++)
		td[ntd++] = (struct oxp_thread_def){ a->tids[i], a->tid_names[i] };
	a->defined_tids = a->ntids;
	struct oxp_msg m = { .type = OXP_MSG_SAMPLES };
	m.u.samples = (struct oxp_samples){ ++a->batch_seq, nsd, sd, nfd, fd, ntd, td,
					    a->nstacks, a->stacks, { 0 }, 0, NULL, a->first_ms,
					    a->last_ms };
	fill_stats(a, &m.u.samples.stats);
	a->nstacks = a->nframes_used = 0;
	return oxt_send(&a->p, &m);
}

int oxt_agent_flush(struct oxt_agent *a, struct oxp_samples_ack *ack)
{
	struct oxp_msg m;
	int r = oxt_agent_send(a);
	while (r == 0) {
		r = oxt_recv(&a->p, &m, OXT_IO_MS);
		if (r == 0 && m.type == OXP_MSG_SAMPLES_ACK) {
			if (ack)
				*ack = m.u.samples_ack;
			return 0;
		}
		if (r == 0 && m.type == OXP_MSG_SET_STATE) {
			a->p.nset_state++;
			a->p.last_set_state = m.u.set_state;
			a->fleet = m.u.set_state.fleet;
			a->seq = m.u.set_state.seq;
		} else if (r == 0 && m.type == OXP_MSG_DURABLE) {
			continue; /* after a snapshot; this harness keeps nothing */
		} else if (r == 0) {
			return m.type == OXP_MSG_ERROR ? m.u.error.code : -EPROTO;
		}
	}
	return r;
}

void oxt_agent_report(struct oxt_agent *a, uint8_t state)
{
	a->state = state;
	struct oxp_msg m = { .type = OXP_MSG_AGENT_STATE };
	fill_stats(a, &m.u.agent_state);
	ASSERT_EQ(oxt_send(&a->p, &m), 0);
}

int oxt_agent_wait_state(struct oxt_agent *a, struct oxp_set_state *ss, int timeout_ms)
{
	struct oxp_msg m;
	for (;;) {
		int r = oxt_recv(&a->p, &m, timeout_ms);
		if (r < 0)
			return r;
		if (m.type == OXP_MSG_SET_STATE) {
			*ss = m.u.set_state;
			a->fleet = ss->fleet;
			a->seq = ss->seq;
			return 0;
		}
	}
}

void oxt_agent_leave(struct oxt_agent *a)
{
	oxt_peer_close(&a->p);
	for (uint32_t i = 0; i < a->nnames; i++)
		free(a->names[i]);
	a->nnames = 0;
}
