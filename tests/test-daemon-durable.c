/*
 * test-daemon-durable.c - exactly-once delivery across a crash, as the
 * daemon sees it (PROTOCOL.md, DURABLE): what a snapshot holds of an agent
 * instance's batches survives kill -9 and is told to the agent when it
 * comes back, so it resends only the rest and nothing is counted twice.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "task.h"

/* Samples the daemon counts for our pid. */
static uint64_t our_samples(const struct oxt_daemon *d)
{
	struct oxt_status st;
	oxt_status(d, &st);
	const struct oxt_agent_row *r = oxt_status_pid(&st, (int32_t)getpid());
	return r ? r->samples : 0;
}

/* Read until DURABLE for at least seq; 0 or -ETIMEDOUT. */
static int wait_durable(struct oxt_agent *a, uint64_t seq, int timeout_ms)
{
	uint64_t t0 = oxt_ms();
	while (oxt_ms() - t0 < (uint64_t)timeout_ms) {
		struct oxp_msg m;
		if (oxt_recv(&a->p, &m, 200) == 0 && m.type == OXP_MSG_DURABLE &&
		    m.u.durable.seq >= seq)
			return 0;
	}
	return -ETIMEDOUT;
}

TEST(daemon_durable_without_state_dir_is_aggregated)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	oxt_hello_instance = 0x1234;
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/nostate"), 0);
	ASSERT_EQ(a.p.welcome.durable, 0);
	oxt_agent_add(&a, 7, "main", "main;work", 4);
	struct oxp_samples_ack k;
	ASSERT_EQ(oxt_agent_flush(&a, &k), 0);
	/* Nothing would survive a crash anyway: the ack says durable. */
	ASSERT_EQ(k.seq, 1);
	ASSERT_EQ(k.durable, 1);
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}

TEST_TIMEOUT(daemon_durable_seq_survives_kill9_and_no_batch_counts_twice, 60)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[] = { "--state-dir", d.state, "--snapshot-interval", "600", NULL };
	oxt_daemon_restart(&d, args);
	oxt_hello_instance = 0xfeedface00000001ull;
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/durable"), 0);
	ASSERT_EQ(a.p.welcome.durable, 0);
	ASSERT_EQ(a.p.welcome.received, 0);
	oxt_agent_add(&a, 7, "main", "main;work;leaf", 10);
	struct oxp_samples_ack k;
	ASSERT_EQ(oxt_agent_flush(&a, &k), 0);
	ASSERT_EQ(k.accepted, 10);
	ASSERT_EQ(k.durable, 0); /* aggregated, not on disk yet */
	/* A snapshot follows soon, not after --snapshot-interval. */
	ASSERT_MSG(wait_durable(&a, 1, 20000) == 0, "no DURABLE for batch 1");
	oxt_agent_add(&a, 7, "main", "main;work;leaf", 5);
	ASSERT_EQ(oxt_agent_flush(&a, &k), 0);
	ASSERT_EQ(k.seq, 2);
	oxt_daemon_kill9(&d);
	oxt_agent_leave(&a);
	oxt_daemon_restart(&d, args);

	/* The same instance comes back: the daemon says what it kept. */
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/durable"), 0);
	uint64_t durable = a.p.welcome.durable;
	printf("  after kill -9: durable %llu, received %llu\n", (unsigned long long)durable,
	       (unsigned long long)a.p.welcome.received);
	ASSERT(durable == 1 || durable == 2);
	ASSERT_EQ(a.p.welcome.received, durable);
	ASSERT_EQ(our_samples(&d), durable == 1 ? 10 : 15);
	/* The agent resends only what was lost, as a new batch. */
	a.batch_seq = 2;
	if (durable == 1) {
		oxt_agent_add(&a, 7, "main", "main;work;leaf", 5);
		ASSERT_EQ(oxt_agent_flush(&a, &k), 0);
	}
	ASSERT_EQ(our_samples(&d), 15);
	/* A batch seq the daemon has already is refused, never counted twice. */
	a.batch_seq = 1;
	oxt_agent_add(&a, 7, "main", "main;work;leaf", 5);
	ASSERT(oxt_agent_flush(&a, &k) != 0);
	oxt_agent_leave(&a);
	ASSERT_EQ(our_samples(&d), 15);

	/* Another instance (a new process on a reused pid) starts from zero. */
	oxt_hello_instance = 0xfeedface00000002ull;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/durable"), 0);
	ASSERT_EQ(a.p.welcome.durable, 0);
	ASSERT_EQ(a.p.welcome.received, 0);
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}

/* After a reset, a batch with two samples fewer than were forgotten left
 * samples + generation + batches where they were: a snapshot must follow
 * all the same, or the new batch is never durable. */
TEST_TIMEOUT(daemon_durable_after_reset_same_count_is_written, 60)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[] = { "--state-dir", d.state, "--snapshot-interval", "600", NULL };
	oxt_daemon_restart(&d, args);
	oxt_hello_instance = 0xfeedface00000002ull;
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/durable"), 0);
	oxt_agent_add(&a, 7, "main", "main;work;leaf", 10);
	struct oxp_samples_ack k;
	ASSERT_EQ(oxt_agent_flush(&a, &k), 0);
	ASSERT_EQ(k.accepted, 10);
	ASSERT_MSG(wait_durable(&a, 1, 20000) == 0, "no DURABLE for batch 1");
	struct oxt_result r;
	ASSERT_EQ(oxt_simple(&d, OXP_CMD_RESET, &r), 0);
	oxt_result_free(&r);
	oxt_agent_add(&a, 7, "main", "main;other", 8);
	ASSERT_EQ(oxt_agent_flush(&a, &k), 0);
	ASSERT_EQ(k.seq, 2);
	ASSERT_EQ(k.accepted, 8);
	ASSERT_MSG(wait_durable(&a, 2, 20000) == 0, "no DURABLE for batch 2 after the reset");
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}
