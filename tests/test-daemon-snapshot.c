/*
 * test-daemon-snapshot.c - aggregates survive restarts: written at stop
 * and every interval, atomically; kill -9 at any moment leaves the old or
 * the new snapshot; a damaged file is reported and skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agg.h"
#include "daemon-harness.h"
#include "snapshot-kit.h"
#include "snapshot.h"
#include "task.h"

static void query(const struct oxt_daemon *d, uint8_t by, struct oxt_result *r)
{
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_QUERY);
	c.by = by;
	oxt_command(&p, &c, r);
	ASSERT_EQ(r->code, 0);
	oxt_peer_close(&p);
}

static void same_rows(const struct oxt_result *a, const struct oxt_result *b)
{
	ASSERT_EQ(a->nrows, b->nrows);
	ASSERT_EQ(a->head.total, b->head.total);
	for (size_t i = 0; i < a->nrows; i++) {
		ASSERT_STREQ(a->rows[i].name, b->rows[i].name);
		ASSERT_STREQ(a->rows[i].module, b->rows[i].module);
		ASSERT_EQ(a->rows[i].self, b->rows[i].self);
		ASSERT_EQ(a->rows[i].total, b->rows[i].total);
		ASSERT_EQ(a->rows[i].pid, b->rows[i].pid);
	}
}

void workload(const struct oxt_daemon *d, int scale)
{
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, d, "/usr/bin/kept"), 0);
	char stack[64];
	for (int b = 0; b < scale; b++) {
		for (int i = 0; i < 500; i++) {
			snprintf(stack, sizeof(stack), "main;f%d;g%d;f%d", i % 37, i % 11, i % 37);
			oxt_agent_add(&a, (uint32_t)(100 + i % 3), i % 3 ? "worker" : "main", stack,
				      (uint32_t)(1 + i % 5));
		}
		struct oxp_samples_ack ack;
		ASSERT_EQ(oxt_agent_flush(&a, &ack), 0);
	}
	oxt_agent_leave(&a);
}

const char *state_args(const struct oxt_daemon *d, const char *interval, const char **v)
{
	v[0] = "--state-dir";
	v[1] = d->state;
	v[2] = "--snapshot-interval";
	v[3] = interval;
	v[4] = NULL;
	return v[0];
}

TEST(daemon_snapshot_restart_restores_exact_aggregate)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[5];
	state_args(&d, "3600", args);
	oxt_daemon_restart(&d, args);
	workload(&d, 4);
	struct oxt_result f0, s0, t0, f1, s1, t1;
	query(&d, OXP_BY_FUNCTION, &f0);
	query(&d, OXP_BY_STACK, &s0);
	query(&d, OXP_BY_THREAD, &t0);
	ASSERT(f0.head.total > 0);
	oxt_daemon_stop(&d); /* writes the snapshot */
	oxt_daemon_restart(&d, args);
	ASSERT(oxt_daemon_log_has(&d, "snapshot loaded"));
	query(&d, OXP_BY_FUNCTION, &f1);
	query(&d, OXP_BY_STACK, &s1);
	query(&d, OXP_BY_THREAD, &t1);
	same_rows(&f0, &f1);
	same_rows(&s0, &s1);
	same_rows(&t0, &t1);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_EQ(st.samples, f0.head.total);
	ASSERT_EQ(st.nagents, 1);
	ASSERT_EQ(st.agents[0].state, OXP_AGENT_EXITED);
	ASSERT_STREQ(st.agents[0].exe, "/usr/bin/kept");
	/* The process reconnects: its row continues. */
	workload(&d, 1);
	oxt_status(&d, &st);
	ASSERT_EQ(st.nagents, 1);
	ASSERT(st.agents[0].samples > f0.head.total);
	oxt_result_free(&f0);
	oxt_result_free(&s0);
	oxt_result_free(&t0);
	oxt_result_free(&f1);
	oxt_result_free(&s1);
	oxt_result_free(&t1);
	oxt_daemon_finish(&d);
}

static void big_flood(const struct oxt_daemon *d, int nbatches, unsigned rng);

static void corrupt(const char *path, off_t where)
{
	int fd = open(path, O_RDWR);
	ASSERT(fd >= 0);
	struct stat st;
	ASSERT(fstat(fd, &st) == 0);
	if (where < 0)
		ASSERT(ftruncate(fd, st.st_size / 2) == 0);
	else {
		uint8_t b;
		ASSERT(pread(fd, &b, 1, where) == 1);
		b ^= 0x5a;
		ASSERT(pwrite(fd, &b, 1, where) == 1);
	}
	close(fd);
}

TEST(daemon_snapshot_corrupt_file_is_reported_and_skipped)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[5];
	state_args(&d, "3600", args);
	char cur[400], prev[400];
	snprintf(cur, sizeof(cur), "%s/oxprofd.snap", d.state);
	snprintf(prev, sizeof(prev), "%s/oxprofd.snap.prev", d.state);
	oxt_daemon_restart(&d, args);
	workload(&d, 1);
	struct oxt_status st1, st2, st;
	oxt_status(&d, &st1);
	oxt_daemon_stop(&d); /* snapshot A */
	oxt_daemon_restart(&d, args);
	workload(&d, 1);
	oxt_status(&d, &st2);
	ASSERT(st2.samples > st1.samples);
	oxt_daemon_stop(&d); /* snapshot B; A is now .prev */
	/* A flipped byte in the middle of B: the previous one is used. */
	corrupt(cur, 1000);
	oxt_daemon_restart(&d, args);
	ASSERT(oxt_daemon_log_has(&d, "unusable (checksum mismatch)"));
	oxt_status(&d, &st);
	ASSERT_EQ(st.samples, st1.samples);
	oxt_daemon_kill9(&d);
	/* B was kept aside, not left to be rotated over A by the next write. */
	char bad[420];
	snprintf(bad, sizeof(bad), "%s.bad", cur);
	ASSERT(access(cur, F_OK) != 0);
	ASSERT(rename(bad, cur) == 0);
	/* Both truncated: start empty, never crash. */
	corrupt(cur, -1);
	corrupt(prev, -1);
	oxt_daemon_restart(&d, args);
	ASSERT(oxt_daemon_log_has(&d, "unusable (truncated)"));
	oxt_status(&d, &st);
	ASSERT_EQ(st.samples, 0);
	oxt_daemon_stop(&d);
	/* Garbage and an empty file. */
	FILE *f = fopen(cur, "w");
	fputs("not a snapshot at all, just some text that is long enough", f);
	fclose(f);
	f = fopen(prev, "w");
	fclose(f);
	oxt_daemon_restart(&d, args);
	ASSERT(oxt_daemon_log_has(&d, "not an oxprofd snapshot"));
	oxt_status(&d, &st);
	oxt_daemon_finish(&d);
}

TEST_TIMEOUT(daemon_snapshot_kill9_during_writes_never_goes_back, 120)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[5];
	state_args(&d, "0.02", args);
	uint64_t last = 0;
	unsigned rng = 42;
	int loaded = 0;
	/* A large aggregate, so that each write takes a while and many kills
	 * land in the middle of one. */
	oxt_daemon_restart(&d, args);
	big_flood(&d, 40, 9);
	oxt_daemon_stop(&d);
	for (int round = 0; round < 20; round++) {
		oxt_daemon_restart(&d, args);
		struct oxt_status st;
		oxt_status(&d, &st);
		ASSERT_MSG(st.samples >= last, "round %d: %llu samples after restart, %llu before",
			   round, (unsigned long long)st.samples, (unsigned long long)last);
		ASSERT(!oxt_daemon_log_has(&d, "unusable"));
		loaded += st.samples > 0;
		last = st.samples;
		workload(&d, 2 + round % 3);
		usleep((useconds_t)(rand_r(&rng) % 60000));
		oxt_daemon_kill9(&d); /* often in the middle of a write */
	}
	ASSERT_EQ(loaded, 20);
	oxt_daemon_restart(&d, args);
	oxt_daemon_stop(&d);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "grep -c 'interrupted snapshot write' %s", d.log);
	FILE *p = popen(cmd, "r");
	int interrupted = 0;
	ASSERT(p && fscanf(p, "%d", &interrupted) == 1);
	pclose(p);
	printf("  after 20 kill -9: %llu samples kept; %d kills landed during a write\n",
	       (unsigned long long)last, interrupted);
	oxt_daemon_cleanup(&d);
}

/* nbatches x 2000 unique stacks of depth 8..23 over 500 functions. */
static void big_flood(const struct oxt_daemon *d, int nbatches, unsigned rng)
{
	struct oxt_peer ag;
	ASSERT_EQ(oxt_peer_open(&ag, d, OXP_ROLE_AGENT, "/bin/big", NULL, 0), 0);
	static struct oxp_str_def sd[500];
	static struct oxp_frame_def fd[500];
	static struct oxp_stack stk[2000];
	static uint32_t ids[2000 * 24];
	static char names[500][24];
	for (uint32_t i = 0; i < 500; i++) {
		snprintf(names[i], sizeof(names[i]), "function_%u", i);
		sd[i] = (struct oxp_str_def){ i, oxp_str_c(names[i]) };
		fd[i] = (struct oxp_frame_def){ i, i, 0, i };
	}
	struct oxp_thread_def td = { 1, 0 };
	for (int b = 0; b < nbatches; b++) {
		uint32_t k = 0;
		for (int i = 0; i < 2000; i++) {
			uint32_t depth = 8 + (uint32_t)rand_r(&rng) % 16;
			stk[i] = (struct oxp_stack){ 1, 0, 1, depth, ids + k };
			for (uint32_t j = 0; j < depth; j++)
				ids[k++] = (uint32_t)rand_r(&rng) % 500;
		}
		struct oxp_msg m = { .type = OXP_MSG_SAMPLES };
		m.u.samples = (struct oxp_samples){ (uint64_t)b + 1, b ? 0 : 500, sd, b ? 0 : 500,
						    fd, b ? 0 : 1, &td, 2000, stk, { 0 }, 0, NULL, 0, 0 };
		ASSERT_EQ(oxt_send(&ag, &m), 0);
		do
			ASSERT_EQ(oxt_recv(&ag, &m, 10000), 0);
		while (m.type != OXP_MSG_SAMPLES_ACK);
		ASSERT_EQ(m.u.samples_ack.refused, 0);
	}
	oxt_peer_close(&ag);
}

TEST(daemon_snapshot_large_aggregate_size_and_time)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[5];
	state_args(&d, "3600", args);
	oxt_daemon_restart(&d, args);
	big_flood(&d, 100, 3);
	double ms = oxt_daemon_stop(&d);
	char path[400];
	snprintf(path, sizeof(path), "%s/oxprofd.snap", d.state);
	struct stat st;
	ASSERT(stat(path, &st) == 0);
	uint64_t t0 = oxt_ms();
	oxt_daemon_restart(&d, args);
	uint64_t load_ms = oxt_ms() - t0;
	struct oxt_status s;
	oxt_status(&d, &s);
	ASSERT_EQ(s.samples, 200000);
	/* Top 50 by function over 200k unique stacks. */
	struct oxt_peer c;
	ASSERT_EQ(oxt_peer_open(&c, &d, OXP_ROLE_CONTROL, "q", NULL, 0), 0);
	struct oxp_command q = oxt_cmd(OXP_CMD_QUERY);
	q.limit = 50;
	struct oxt_result r;
	t0 = oxt_ms();
	oxt_command(&c, &q, &r);
	uint64_t q_ms = oxt_ms() - t0;
	ASSERT_EQ(r.nrows, 50);
	oxt_result_free(&r);
	oxt_peer_close(&c);
	printf("  snapshot of 200000 stacks: %lld bytes; stop (with write) %.0f ms, "
	       "start (with load) %llu ms; top-50 query %llu ms; mem_used %llu\n",
	       (long long)st.st_size, ms, (unsigned long long)load_ms, (unsigned long long)q_ms,
	       (unsigned long long)s.mem_used);
	oxt_daemon_finish(&d);
}
