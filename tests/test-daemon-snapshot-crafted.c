/*
 * test-daemon-snapshot-crafted.c - snapshots with good checksums and bad
 * values (written by the daemon's own writer, then spoiled) are refused
 * and kept aside; counts near 2^64 saturate; a peer cannot poison one
 * (part of test-daemon-snapshot).
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

/* ---- crafted snapshots: good checksums, bad values ---- */

/* One process (pid 4242) with one thread and one stack holding count
 * samples, consistent unless a test spoils it.  Written by the daemon's
 * own writer, so the checksums are right whatever the format. */
static void crafted(struct oxd_agg *a, uint64_t count)
{
	oxd_agg_init(a, 1u << 30, 1u << 30);
	struct oxd_proc p;
	memset(&p, 0, sizeof(p));
	p.pid = 4242;
	p.exe = oxd_agg_str(a, "/usr/bin/crafted", 16);
	p.cmdline = oxd_agg_str(a, "crafted", 7);
	p.mode = OXP_MODE_CPU;
	p.hz_requested = 100;
	p.hz_achieved = 99.5;
	snprintf(p.source, sizeof(p.source), "crafted");
	p.samples = count;
	uint32_t pr = oxd_agg_restore_proc(a, &p);
	uint32_t fr = oxd_agg_frame(a, oxd_agg_str(a, "main", 4), oxd_agg_str(a, "libx.so", 7), 16);
	uint32_t t = oxd_agg_thread(a, pr, 101, oxd_agg_str(a, "main", 4));
	oxd_agg_restore_entry(a, t, &fr, 1, count);
	a->samples = count;
}

static void write_crafted(const struct oxt_daemon *d, struct oxd_agg *a)
{
	mkdir(d->state, 0700);
	uint64_t bytes;
	ASSERT_EQ(oxd_snapshot_write(a, d->state, &bytes), 0);
	oxd_agg_destroy(a);
}

static int exists(const char *dir, const char *name)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void rm_state(const struct oxt_daemon *d)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", d->state);
	ASSERT(system(cmd) == 0);
}

enum spoil { BAD_MODE, BAD_HZ, NAN_HZ, WRAP, TOTAL, NUL_EXE, BIG_TID, FLAGS, FORGOTTEN, NSPOIL };

static void spoil(struct oxd_agg *a, enum spoil how)
{
	switch (how) {
	case BAD_MODE: a->procs[0].mode = 7; break;
	case BAD_HZ: a->procs[0].hz_requested = 0xffffffffu; break;
	case NAN_HZ: a->procs[0].hz_achieved = NAN; break;
	case WRAP: {
		/* Two threads of 2^63 each: the process's sum wraps to 0. */
		uint32_t t = oxd_agg_thread(a, 0, 102, 0);
		uint32_t fr = 0;
		oxd_agg_restore_entry(a, t, &fr, 1, 1);
		a->entries[0].count = a->entries[1].count = 1ull << 63;
		a->procs[0].samples = a->samples = 0;
		break;
	}
	case TOTAL: a->samples += 5; break;
	case NUL_EXE: a->procs[0].exe = oxd_agg_str(a, "/bin/a\0b", 8); break;
	case BIG_TID: a->threads[0].tid = 0x80000000u; break;
	case FLAGS: a->procs[0].removed = 0x80; break;
	case FORGOTTEN: a->procs[0].removed = 1; break;
	case NSPOIL: break;
	}
}

/*
 * A snapshot with good checksums but a value no daemon could hold (mode 7,
 * a rate over the limit or NaN, counts that wrap, totals that do not add
 * up, a NUL in a string, a tid over INT32_MAX, unknown flags, a row reset
 * forgot that still holds samples) is refused
 * with a reason in the log and kept aside as .bad; the daemon starts
 * empty and status works.
 */
TEST_TIMEOUT(daemon_snapshot_bad_values_are_refused_and_kept_aside, 120)
{
	static const char *const reason[NSPOIL] = {
		"mode 7 out of range", "requested rate 4294967295 Hz", "achieved rate nan Hz",
		"counts of process 0 overflow", "samples in all, but the processes hold",
		"holds a NUL byte", "tid 2147483648 out of range", "unknown flags",
		"forgotten by a reset, yet it holds samples",
	};
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[5];
	state_args(&d, "3600", args);
	for (int how = 0; how < NSPOIL; how++) {
		rm_state(&d);
		struct oxd_agg a;
		crafted(&a, 5);
		spoil(&a, (enum spoil)how);
		write_crafted(&d, &a);
		truncate(d.log, 0);
		oxt_daemon_restart(&d, args);
		struct oxt_status st;
		oxt_status(&d, &st); /* asserts that status decodes */
		ASSERT_MSG(st.samples == 0 && st.nagents == 0,
			   "case %d: the bad snapshot was loaded (%llu samples, %u rows)", how,
			   (unsigned long long)st.samples, (unsigned)st.nagents);
		ASSERT_MSG(oxt_daemon_log_has(&d, "unusable") && oxt_daemon_log_has(&d, reason[how]),
			   "case %d: no \"%s\" in the log", how, reason[how]);
		ASSERT_MSG(exists(d.state, "oxprofd.snap.bad") && !exists(d.state, "oxprofd.snap"),
			   "case %d: the bad file was not kept aside as oxprofd.snap.bad", how);
		oxt_daemon_stop(&d);
	}
	/* The consistent one loads; a bad newer file falls back to it. */
	rm_state(&d);
	struct oxd_agg a;
	crafted(&a, 5);
	write_crafted(&d, &a);
	crafted(&a, 7);
	spoil(&a, BAD_MODE);
	write_crafted(&d, &a); /* the good one is now .prev */
	oxt_daemon_restart(&d, args);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_EQ(st.samples, 5);
	ASSERT_EQ(st.nagents, 1);
	ASSERT_EQ(st.agents[0].pid, 4242);
	ASSERT(exists(d.state, "oxprofd.snap.bad"));
	oxt_daemon_finish(&d);
}

/* Counts near 2^64 (a consistent snapshot) load; a batch that would wrap
 * the totals is refused and counted, never added. */
TEST(daemon_snapshot_counts_near_2_64_saturate_not_wrap)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[5];
	state_args(&d, "3600", args);
	rm_state(&d);
	const uint64_t big = UINT64_MAX - 10;
	struct oxd_agg a;
	crafted(&a, big);
	write_crafted(&d, &a);
	oxt_daemon_restart(&d, args);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_EQ(st.samples, big);
	struct oxt_agent ag;
	ASSERT_EQ(oxt_agent_join(&ag, &d, "/usr/bin/crafted"), 0);
	oxt_agent_add(&ag, 101, "main", "main;f", 100);
	struct oxp_samples_ack ack;
	ASSERT_EQ(oxt_agent_flush(&ag, &ack), 0);
	ASSERT_EQ(ack.accepted, 0);
	ASSERT_EQ(ack.refused, 100);
	oxt_agent_add(&ag, 101, "main", "main;f", 10);
	ASSERT_EQ(oxt_agent_flush(&ag, &ack), 0);
	ASSERT_EQ(ack.accepted, 10); /* exactly up to 2^64 - 1 */
	oxt_agent_leave(&ag);
	oxt_status(&d, &st);
	ASSERT_EQ(st.samples, UINT64_MAX);
	ASSERT_EQ(st.dropped, 100);
	oxt_daemon_stop(&d);
	/* And what it wrote loads again. */
	oxt_daemon_restart(&d, args);
	oxt_status(&d, &st);
	ASSERT_EQ(st.samples, UINT64_MAX);
	ASSERT(!oxt_daemon_log_has(&d, "unusable"));
	oxt_daemon_finish(&d);
}

/* What a peer says cannot make the daemon hold a value its own loader
 * would refuse: an agent reporting a NaN or negative rate is refused, and
 * the snapshot written afterwards loads. */
TEST(daemon_snapshot_peer_cannot_poison_it)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[5];
	state_args(&d, "3600", args);
	oxt_daemon_restart(&d, args);
	workload(&d, 1);
	const double bad[] = { NAN, -1.0, INFINITY };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct oxt_peer p;
		ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_AGENT, "/usr/bin/poison", NULL, 0), 0);
		struct oxp_msg m = { .type = OXP_MSG_AGENT_STATE };
		m.u.agent_state = (struct oxp_agent_stats){ .state = OXP_AGENT_RUNNING,
							   .hz_requested = 100,
							   .hz_achieved = bad[i],
							   .source = oxp_str_c("x") };
		ASSERT_EQ(oxt_send(&p, &m), 0);
		/* Refused or not, a status afterwards must decode. */
		struct oxt_status st;
		oxt_status(&d, &st);
		oxt_peer_close(&p);
	}
	oxt_daemon_stop(&d);
	oxt_daemon_restart(&d, args);
	ASSERT_MSG(!oxt_daemon_log_has(&d, "unusable"),
		   "a peer's rate made the daemon write a snapshot it refuses");
	ASSERT(oxt_daemon_log_has(&d, "snapshot loaded"));
	oxt_daemon_finish(&d);
}
