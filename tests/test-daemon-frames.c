/*
 * test-daemon-frames.c - what pprof output needs from the daemon, against
 * the real oxprofd: build-ids in SAMPLES (protocol 3) and QUERY by=frames,
 * whose rows carry frame lists whose frames and modules are defined once
 * per query, before or with their first use, over as many QUERY_ROWS as the
 * limits need.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "task.h"

#define BID_A "0123456789abcdef0123456789abcdef01234567"

/* What a by=frames query answered, checked as it arrives. */
struct fq {
	uint64_t total, sum;
	uint32_t nrows, nmsgs;
	uint8_t *fdef;          /* frame id defined (ids < cap) */
	uint32_t *fmod;         /* its module id */
	size_t cap;
	char *bid[4096];        /* module id (< 4096) -> build-id */
	char *path[4096];
	uint64_t load[4096];
	uint32_t last_tid;
	int32_t last_pid;
	char last_name[64], last_exe[256];
	char leaf[128];         /* func of the first row's leaf */
};

static void fq_defs(struct fq *q, const struct oxp_query_rows *m)
{
	for (uint32_t i = 0; i < m->nmodules; i++) {
		const struct oxp_qmodule *d = &m->modules[i];
		ASSERT_MSG(d->id < 4096 && !q->path[d->id], "module %u: too large or defined twice",
			   d->id);
		q->path[d->id] = strndup(d->path.ptr, d->path.len);
		q->bid[d->id] = strndup(d->build_id.ptr, d->build_id.len);
		q->load[d->id] = d->load;
	}
	for (uint32_t i = 0; i < m->nframes; i++) {
		const struct oxp_qframe *f = &m->frames[i];
		ASSERT(f->id < 1u << 24);
		if (f->id >= q->cap) {
			size_t cap = (f->id + 1) * 2;
			q->fdef = realloc(q->fdef, cap);
			q->fmod = realloc(q->fmod, cap * sizeof(*q->fmod));
			memset(q->fdef + q->cap, 0, cap - q->cap);
			q->cap = cap;
		}
		ASSERT_MSG(!q->fdef[f->id], "frame %u defined twice", f->id);
		ASSERT_MSG(f->module < 4096 && q->path[f->module], "frame %u: module %u undefined",
			   f->id, f->module);
		ASSERT(f->func.len <= OXP_MAX_NAME);
		q->fdef[f->id] = 1;
		q->fmod[f->id] = f->module;
	}
}

static void fq_rows(struct fq *q, const struct oxp_query_rows *m)
{
	for (uint32_t i = 0; i < m->nrows; i++) {
		const struct oxp_row *r = &m->rows[i];
		ASSERT_EQ(r->self, r->total);
		for (uint32_t j = 0; j < r->nframes; j++)
			ASSERT_MSG(r->frames[j] < q->cap && q->fdef[r->frames[j]],
				   "row %u uses frame %u before its definition", q->nrows, r->frames[j]);
		q->sum += r->self;
		q->last_pid = r->pid;
		q->last_tid = (uint32_t)r->tid;
		snprintf(q->last_name, sizeof(q->last_name), "%.*s", (int)r->name.len, r->name.ptr);
		snprintf(q->last_exe, sizeof(q->last_exe), "%.*s", (int)r->module.len, r->module.ptr);
		if (!q->nrows && r->nframes)
			snprintf(q->leaf, sizeof(q->leaf), "%u", r->frames[0]);
		q->nrows++;
	}
}

/* Run a by=frames query on a fresh control connection.  The reply code. */
static int frames_query(const struct oxt_daemon *d, const char *thread, struct fq *q)
{
	memset(q, 0, sizeof(*q));
	struct oxt_peer c;
	ASSERT_EQ(oxt_peer_open(&c, d, OXP_ROLE_CONTROL, "q", NULL, 0), 0);
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command = oxt_cmd(OXP_CMD_QUERY);
	m.u.command.by = OXP_BY_FRAMES;
	m.u.command.sel.thread = oxp_str_c(thread ? thread : "");
	ASSERT_EQ(oxt_send(&c, &m), 0);
	for (;;) {
		ASSERT_EQ(oxt_recv(&c, &m, OXT_IO_MS), 0);
		if (m.type == OXP_MSG_REPLY)
			break;
		if (m.type == OXP_MSG_QUERY_HEAD) {
			q->total = m.u.query_head.total;
		} else {
			ASSERT_EQ(m.type, OXP_MSG_QUERY_ROWS);
			q->nmsgs++;
			fq_defs(q, &m.u.query_rows);
			fq_rows(q, &m.u.query_rows);
		}
	}
	int code = m.u.reply.code;
	oxt_peer_close(&c);
	return code;
}

static void fq_free(struct fq *q)
{
	free(q->fdef);
	free(q->fmod);
	for (int i = 0; i < 4096; i++) {
		free(q->bid[i]);
		free(q->path[i]);
	}
}

/* Send one SAMPLES batch; returns the answer's type (ACK or ERROR) and
 * the error code in *code. */
static uint32_t send_batch(struct oxt_peer *p, const struct oxp_samples *s, int32_t *code)
{
	struct oxp_msg m = { .type = OXP_MSG_SAMPLES };
	m.u.samples = *s;
	ASSERT_EQ(oxt_send(p, &m), 0);
	do
		ASSERT_EQ(oxt_recv(p, &m, OXT_IO_MS), 0);
	while (m.type == OXP_MSG_SET_STATE);
	*code = m.type == OXP_MSG_ERROR ? m.u.error.code : 0;
	return m.type;
}

TEST(daemon_frames_rows_defs_and_build_ids)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_AGENT, "/usr/bin/app", NULL, 0), 0);
	struct oxp_str_def sd[] = {
		{ 0, oxp_str_c("leaf") }, { 1, oxp_str_c("/usr/lib/liba.so") },
		{ 2, oxp_str_c("main") }, { 3, oxp_str_c("/usr/bin/app") },
		{ 4, oxp_str_c("worker-1") }, { 5, oxp_str_c("worker-2") },
		{ 6, oxp_str_c("[unknown]") },
	};
	struct oxp_frame_def fd[] = { { 10, 0, 1, 0x1234 }, { 11, 2, 3, 0x40 }, { 12, 6, 1, 0x99 } };
	struct oxp_thread_def td[] = { { 101, 4 }, { 102, 5 } };
	const uint32_t s1[] = { 10, 11 }, s2[] = { 12, 10, 11 };
	struct oxp_stack st[] = { { 101, 0, 7, 2, s1 }, { 102, 0, 5, 2, s1 }, { 101, 0, 3, 3, s2 } };
	/* A good build-id for liba.so, junk (not hex) for the exe: ignored,
	 * but its layout is kept. */
	struct oxp_module_def md[] = { { 1, oxp_str_c(BID_A), 0 },
				       { 3, oxp_str_c("XYZ not hex"), 0x400000 } };
	struct oxp_samples s = { 1, 7, sd, 3, fd, 2, td, 3, st, { 0 }, 2, md, 0, 0 };
	int32_t code;
	ASSERT_EQ(send_batch(&p, &s, &code), OXP_MSG_SAMPLES_ACK);

	struct fq q;
	ASSERT_EQ(frames_query(&d, NULL, &q), 0);
	/* One row per thread and stack: (101,s1), (102,s1), (101,s2). */
	ASSERT_EQ(q.nrows, 3);
	ASSERT_EQ(q.total, 15);
	ASSERT_EQ(q.sum, 15);
	int a = -1, e = -1;
	for (int i = 0; i < 4096; i++) {
		if (q.path[i] && !strcmp(q.path[i], "/usr/lib/liba.so"))
			a = i;
		if (q.path[i] && !strcmp(q.path[i], "/usr/bin/app"))
			e = i;
	}
	ASSERT(a >= 0 && e >= 0);
	ASSERT_STREQ(q.bid[a], BID_A);
	ASSERT_STREQ(q.bid[e], "");
	ASSERT_EQ(q.load[a], 0);
	ASSERT_EQ(q.load[e], 0x400000);
	ASSERT_EQ(q.last_pid, getpid());
	fq_free(&q);

	/* The same filters as every query: one thread. */
	ASSERT_EQ(frames_query(&d, "worker-2", &q), 0);
	ASSERT_EQ(q.nrows, 1);
	ASSERT_EQ(q.sum, 5);
	ASSERT_EQ(q.last_tid, 102);
	ASSERT_STREQ(q.last_name, "worker-2");
	ASSERT_STREQ(q.last_exe, "/usr/bin/app");
	fq_free(&q);

	/* A build-id for a module string never defined: a broken batch. */
	struct oxp_module_def bad = { 999, oxp_str_c(BID_A), 0 };
	struct oxp_samples s2b = { 2, 0, NULL, 0, NULL, 0, NULL, 0, NULL, { 0 }, 1, &bad, 0, 0 };
	ASSERT_EQ(send_batch(&p, &s2b, &code), OXP_MSG_ERROR);
	ASSERT_EQ(code, -OXP_ESHAPE);
	oxt_peer_close(&p);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

TEST(daemon_frames_split_over_many_frames)
{
	/* 3000 stacks of 20 frames, 600 distinct 1000-byte function names:
	 * megabytes of definitions, so many QUERY_ROWS, each within limits,
	 * every definition once and before its use. */
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_AGENT, "/usr/bin/big", NULL, 0), 0);
	enum { NF = 600, NS = 3000, DEPTH = 20 };
	static char names[NF][1001];
	static struct oxp_str_def sd[NF + 2];
	static struct oxp_frame_def fd[NF];
	static uint32_t ids[NS][DEPTH];
	static struct oxp_stack st[NS];
	for (int i = 0; i < NF; i++) {
		memset(names[i], 'a' + i % 26, 1000);
		snprintf(names[i], 16, "fn%05d_", i);
		names[i][8] = 'x'; /* snprintf's NUL */
		sd[i] = (struct oxp_str_def){ (uint32_t)i, { names[i], 1000 } };
		fd[i] = (struct oxp_frame_def){ (uint32_t)i, (uint32_t)i, NF, 16 * (uint64_t)i };
	}
	sd[NF] = (struct oxp_str_def){ NF, oxp_str_c("/usr/lib/libbig.so") };
	sd[NF + 1] = (struct oxp_str_def){ NF + 1, oxp_str_c("t") };
	struct oxp_thread_def td = { 7, NF + 1 };
	for (int s = 0; s < NS; s++) {
		for (int j = 0; j < DEPTH; j++)
			ids[s][j] = (uint32_t)((s * 7 + j * 131 + s / NF) % NF);
		ids[s][0] = (uint32_t)(s % NF);
		ids[s][1] = (uint32_t)(s / NF);
		st[s] = (struct oxp_stack){ 7, 0, 1, DEPTH, ids[s] };
	}
	struct oxp_module_def md = { NF, oxp_str_c(BID_A), 0 };
	/* Within the frame limit: definitions in one batch, stacks in two. */
	struct oxp_samples s1 = { 1, NF + 2, sd, NF, fd, 1, &td, 0, NULL, { 0 }, 1, &md, 0, 0 };
	int32_t code;
	ASSERT_EQ(send_batch(&p, &s1, &code), OXP_MSG_SAMPLES_ACK);
	for (int b = 0; b < 2; b++) {
		struct oxp_samples s2 = { 2 + (uint64_t)b, 0, NULL, 0, NULL, 0, NULL, NS / 2,
					  st + b * NS / 2, { 0 }, 0, NULL, 0, 0 };
		ASSERT_EQ(send_batch(&p, &s2, &code), OXP_MSG_SAMPLES_ACK);
	}
	struct fq q;
	ASSERT_EQ(frames_query(&d, NULL, &q), 0);
	ASSERT_EQ(q.nrows, NS);
	ASSERT_EQ(q.sum, NS);
	ASSERT_MSG(q.nmsgs >= 2, "%u QUERY_ROWS for ~600 KB of names", q.nmsgs);
	size_t defined = 0;
	for (size_t i = 0; i < q.cap; i++)
		defined += q.fdef[i];
	ASSERT_EQ(defined, NF);
	fq_free(&q);
	oxt_peer_close(&p);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

TEST(daemon_build_ids_survive_a_restart)
{
	/* Snapshot format 4: an exited process's build-ids and module
	 * layouts are still there for pprof after the daemon restarts from
	 * its state dir. */
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	oxt_daemon_stop(&d);
	const char *args[] = { "--state-dir", d.state, NULL };
	oxt_daemon_restart(&d, args);
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_AGENT, "/usr/bin/app", NULL, 0), 0);
	struct oxp_str_def sd[] = { { 0, oxp_str_c("f") }, { 1, oxp_str_c("/usr/lib/libf.so") },
				    { 2, oxp_str_c("t") } };
	struct oxp_frame_def fd = { 0, 0, 1, 0x10 };
	struct oxp_thread_def td = { 5, 2 };
	const uint32_t s1[] = { 0 };
	struct oxp_stack st = { 5, 0, 4, 1, s1 };
	struct oxp_module_def md = { 1, oxp_str_c(BID_A), 0x2000 };
	struct oxp_samples s = { 1, 3, sd, 1, &fd, 1, &td, 1, &st, { 0 }, 1, &md, 0, 0 };
	int32_t code;
	ASSERT_EQ(send_batch(&p, &s, &code), OXP_MSG_SAMPLES_ACK);
	oxt_peer_close(&p);
	oxt_daemon_stop(&d); /* writes the snapshot */
	oxt_daemon_restart(&d, args);
	ASSERT(oxt_daemon_log_has(&d, "snapshot loaded"));
	struct fq q;
	ASSERT_EQ(frames_query(&d, NULL, &q), 0);
	ASSERT_EQ(q.sum, 4);
	int found = 0;
	for (int i = 0; i < 4096; i++)
		found += q.path[i] && !strcmp(q.path[i], "/usr/lib/libf.so") &&
			 !strcmp(q.bid[i], BID_A) && q.load[i] == 0x2000;
	ASSERT_EQ(found, 1);
	fq_free(&q);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}
