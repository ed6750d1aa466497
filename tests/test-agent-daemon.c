/*
 * test-agent-daemon.c - the real agent in a real program reporting to the
 * real oxprofd: joining paused, unpausing, exact counts, and a daemon that
 * goes away and comes back mid-run.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "daemon-harness.h"
#include "task.h"

static int is_exited(const struct oxt_agent_row *r)
{
	return r->state == OXP_AGENT_EXITED;
}

static int has_samples(const struct oxt_agent_row *r)
{
	return r->samples > 0;
}

static int is_paused(const struct oxt_agent_row *r)
{
	return r->state == OXP_AGENT_PAUSED;
}

static pid_t spawn_split(struct oxt_daemon *d, const char *extra_env, const char *rounds)
{
	const char *env[] = { oxt_daemon_env(d), "OXPROF_HZ=1000", extra_env, NULL };
	char *argv[] = { OXT_SPLIT, "-n", (char *)rounds, NULL };
	return oxt_spawn_agent(argv, env);
}

static void wait_exit0(pid_t pid)
{
	int st;
	ASSERT(waitpid(pid, &st, 0) == pid);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "profiled program: status %d", st);
}

/* A query of pid's samples over a fresh control connection. */
static void query(const struct oxt_daemon *d, uint8_t by, int32_t pid, struct oxt_result *r)
{
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_QUERY);
	c.by = by;
	c.sel.npids = 1;
	c.sel.pids = &pid;
	oxt_command(&p, &c, r);
	ASSERT_EQ(r->code, 0);
	oxt_peer_close(&p);
}

/* The agent's books balance, and the daemon accepted or refused all that
 * the agent counts as sent. */
static void check_accounts(const struct oxt_agent_row *row)
{
	printf("  taken %llu sent %llu dropped %llu; daemon accepted %llu refused %llu\n",
	       (unsigned long long)row->taken, (unsigned long long)row->sent,
	       (unsigned long long)row->dropped_agent, (unsigned long long)row->samples,
	       (unsigned long long)row->dropped_daemon);
	ASSERT(row->taken > 0);
	ASSERT_EQ(row->taken, row->sent + row->dropped_agent);
	ASSERT_EQ(row->sent, row->samples + row->dropped_daemon);
}

TEST_TIMEOUT(agent_joins_paused_then_unpause_samples, 90)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	pid_t p = spawn_split(&d, NULL, "120000");
	struct oxt_agent_row row;
	ASSERT_MSG(oxt_wait_row(&d, p, is_paused, 5000, &row) == 0, "agent did not join paused");
	usleep(300000);
	ASSERT_MSG(oxt_wait_row(&d, p, is_paused, 1000, &row) == 0 && row.samples == 0,
		   "samples while paused");
	struct oxt_result r;
	ASSERT_EQ(oxt_simple(&d, OXP_CMD_UNPAUSE, &r), 0);
	ASSERT(r.affected >= 1);
	oxt_result_free(&r);
	ASSERT_MSG(oxt_wait_row(&d, p, has_samples, 5000, &row) == 0, "no samples after unpause");
	wait_exit0(p);
	ASSERT_MSG(oxt_wait_row(&d, p, is_exited, 5000, &row) == 0, "agent row never exited");
	check_accounts(&row);
	query(&d, OXP_BY_FUNCTION, p, &r);
	const struct oxt_row *hot = oxt_row_named(&r, "hot_a");
	ASSERT_EQ(r.head.total, row.samples);
	ASSERT_MSG(hot && hot->self * 100 > r.head.total * 50, "hot_a is not on top");
	oxt_result_free(&r);
	/* Many pcs in hot_a, one folded row per function path; rows sum up. */
	query(&d, OXP_BY_STACK, p, &r);
	uint64_t sum = 0;
	for (size_t i = 0; i < r.nrows; i++) {
		sum += r.rows[i].self;
		for (size_t j = 0; j < i; j++)
			ASSERT_MSG(strcmp(r.rows[i].name, r.rows[j].name) != 0,
				   "folded stack %s appears twice", r.rows[i].name);
	}
	ASSERT_EQ(sum, row.samples);
	oxt_result_free(&r);
	oxt_daemon_finish(&d);
}

/* The daemon stops (gracefully, keeping a snapshot) while the agent
 * samples, and a new one starts on the same socket and state: the agent
 * reconnects, sends what it kept, and every sample is accounted for. */
TEST_TIMEOUT(agent_daemon_restart_loses_nothing, 90)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[] = { "--state-dir", d.state, NULL };
	oxt_daemon_restart(&d, args);
	pid_t p = spawn_split(&d, "OXPROF_START=1", "150000");
	struct oxt_agent_row row;
	ASSERT_MSG(oxt_wait_row(&d, p, has_samples, 5000, &row) == 0, "no samples at first");
	oxt_daemon_stop(&d);
	usleep(600000); /* the agent samples on without a daemon */
	oxt_daemon_restart(&d, args);
	wait_exit0(p);
	ASSERT_MSG(oxt_wait_row(&d, p, is_exited, 8000, &row) == 0, "agent row never exited");
	check_accounts(&row);
	oxt_daemon_finish(&d);
}

/* kill -9: what the dead daemon had acknowledged is gone with it, but the
 * agent's own books still balance and the new daemon gets what was kept. */
TEST_TIMEOUT(agent_daemon_killed_agent_accounts_exactly, 90)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	pid_t p = spawn_split(&d, "OXPROF_START=1", "150000");
	struct oxt_agent_row row;
	ASSERT_MSG(oxt_wait_row(&d, p, has_samples, 5000, &row) == 0, "no samples at first");
	oxt_daemon_kill9(&d);
	usleep(600000);
	oxt_daemon_restart(&d, NULL);
	wait_exit0(p);
	ASSERT_MSG(oxt_wait_row(&d, p, is_exited, 8000, &row) == 0, "agent row never exited");
	ASSERT_EQ(row.taken, row.sent + row.dropped_agent);
	ASSERT(row.samples > 0 && row.samples + row.dropped_daemon <= row.sent);
	oxt_daemon_finish(&d);
}

/* A daemon that is neither root, nor the agent's own user, nor the one
 * named by OXPROF_DAEMON_USER gets no stacks: a socket squatted by another
 * user learns nothing.  Needs root (to run the daemon as nobody). */
TEST_TIMEOUT(agent_refuses_untrusted_daemon_uid, 60)
{
	if (getuid() != 0) {
		OXT_SKIP("needs root to run oxprofd as another user");
	}
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	ASSERT(chmod(d.dir, 01777) == 0); /* like /tmp: sticky, or oxprofd refuses it */
	d.uid = d.gid = 65534;
	oxt_daemon_restart(&d, NULL);
	pid_t untrusting = spawn_split(&d, "OXPROF_START=1", "40000");
	pid_t trusting = spawn_split(&d, "OXPROF_DAEMON_USER=65534", "40000");
	struct oxt_agent_row row;
	ASSERT_MSG(oxt_wait_row(&d, trusting, is_paused, 5000, &row) == 0,
		   "the agent told to trust uid 65534 did not join");
	usleep(500000);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_MSG(!oxt_status_pid(&st, untrusting),
		   "an agent sent its stacks to a daemon run by uid 65534");
	wait_exit0(untrusting);
	wait_exit0(trusting);
	oxt_daemon_finish(&d);
}

/* Issue 10 item 6: oxprofd is killed with SIGKILL again and again while
 * three agents sample, and restarted on the same state dir.  Afterwards
 * every agent's books are exact against what the daemon kept: each sample
 * taken was accepted or refused by the daemon (and survived the crashes),
 * or is counted as dropped by the agent; none is lost, none counted twice. */
TEST_TIMEOUT(agent_daemon_kill9_loop_books_exact, 240)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[] = { "--state-dir", d.state, "--flush-ms", "200", NULL };
	oxt_daemon_restart(&d, args);
	enum { NAGENTS = 3, KILLS = 6 };
	pid_t p[NAGENTS];
	/* Programs that burn CPU until told to exit (normally, so the agent's
	 * last flush runs), so no agent ends during the kills, however fast
	 * the machine. */
	/* Under ASan, bash's own leaks are not ours to report. */
	const char *env[] = { oxt_daemon_env(&d), "OXPROF_HZ=1000", "OXPROF_START=1",
			      OXT_ASAN_OPTIONS[0] ? "ASAN_OPTIONS=verify_asan_link_order=0:"
						    "detect_leaks=0" : NULL, NULL };
	char *argv[] = { "/bin/bash", "-c", "trap 'exit 0' TERM; while :; do :; done", NULL };
	for (int i = 0; i < NAGENTS; i++)
		p[i] = oxt_spawn_agent(argv, env);
	struct oxt_agent_row row;
	for (int i = 0; i < NAGENTS; i++)
		ASSERT_MSG(oxt_wait_row(&d, p[i], has_samples, 10000, &row) == 0, "no samples at first");
	unsigned seed = (unsigned)getpid();
	printf("  seed %u\n", seed);
	for (int k = 0; k < KILLS; k++) {
		usleep(400000 + (useconds_t)(rand_r(&seed) % 1000) * 1000);
		oxt_daemon_kill9(&d);
		usleep((useconds_t)(rand_r(&seed) % 300) * 1000);
		oxt_daemon_restart(&d, args);
	}
	usleep(500000);
	for (int i = 0; i < NAGENTS; i++)
		ASSERT(kill(p[i], SIGTERM) == 0);
	for (int i = 0; i < NAGENTS; i++) {
		wait_exit0(p[i]);
		ASSERT_MSG(oxt_wait_row(&d, p[i], is_exited, 15000, &row) == 0, "agent row never exited");
		printf("  agent %d: taken %llu, daemon accepted %llu refused %llu, agent dropped %llu"
		       " (agent says sent %llu)\n", (int)p[i], (unsigned long long)row.taken,
		       (unsigned long long)row.samples, (unsigned long long)row.dropped_daemon,
		       (unsigned long long)row.dropped_agent, (unsigned long long)row.sent);
		ASSERT(row.taken > 0);
		ASSERT_EQ(row.taken, row.samples + row.dropped_daemon + row.dropped_agent);
		ASSERT_EQ(row.sent, row.samples + row.dropped_daemon);
	}
	/* And what the daemon counts survives one more crash, once a snapshot
	 * holds it: the exiting agents' last batches may be aggregated and not
	 * yet written (an agent waits 2 s for durability at exit, which a busy
	 * machine can outlast).  So ask for a snapshot (SIGHUP) and wait until
	 * a new file is in place, rather than hope one was written in time. */
	struct oxt_status before;
	oxt_status(&d, &before);
	char snap[400];
	snprintf(snap, sizeof(snap), "%s/oxprofd.snap", d.state);
	struct stat s0 = { 0 }, s1;
	(void)stat(snap, &s0);
	ASSERT(kill(d.pid, SIGHUP) == 0);
	int written = 0;
	for (int i = 0; i < 600 && !written; i++) {
		usleep(50000);
		written = stat(snap, &s1) == 0 && s1.st_ino != s0.st_ino;
	}
	ASSERT_MSG(written, "no snapshot written within 30 s of SIGHUP");
	oxt_daemon_kill9(&d);
	oxt_daemon_restart(&d, args);
	struct oxt_status after;
	oxt_status(&d, &after);
	ASSERT_EQ(after.samples, before.samples);
	oxt_daemon_finish(&d);
}

/* The daemon cannot write snapshots (its state dir is a file), so nothing
 * ever becomes durable: the agent holds its batches within its buffer
 * budget (the smallest, 64 KiB), stops sending when its log is full, and
 * at exit counts what the daemon acknowledged as sent and the rest as
 * dropped.  The books stay exact and nothing hangs. */
TEST_TIMEOUT(agent_daemon_holds_within_budget_when_snapshots_fail, 90)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	FILE *f = fopen(d.state, "w");
	ASSERT(f && fclose(f) == 0);
	const char *args[] = { "--state-dir", d.state, NULL };
	oxt_daemon_restart(&d, args);
	/* Small batches often, so the log of held batches fills early. */
	const char *env[] = { oxt_daemon_env(&d), "OXPROF_HZ=1000", "OXPROF_START=1",
			      "OXPROF_BUFFER_KB=64", "OXPROF_FLUSH_MS=10", NULL };
	char *argv[] = { OXT_SPLIT, "-t", "2", "-n", "200000", NULL };
	pid_t p = oxt_spawn_agent(argv, env);
	struct oxt_agent_row row;
	wait_exit0(p);
	ASSERT_MSG(oxt_wait_row(&d, p, is_exited, 15000, &row) == 0, "agent row never exited");
	printf("  taken %llu: accepted %llu, refused %llu, dropped %llu\n",
	       (unsigned long long)row.taken, (unsigned long long)row.samples,
	       (unsigned long long)row.dropped_daemon, (unsigned long long)row.dropped_agent);
	ASSERT(oxt_daemon_log_has(&d, "snapshot to"));
	ASSERT(row.taken > 0);
	ASSERT_MSG(row.dropped_agent > 0, "the log of held batches never filled");
	ASSERT_EQ(row.taken, row.samples + row.dropped_daemon + row.dropped_agent);
	ASSERT_EQ(row.sent, row.samples + row.dropped_daemon);
	oxt_daemon_finish(&d);
}

/* A forked child is a new process that follows the fleet, as its parent
 * did: the fleet runs at 333 Hz while the program's environment says 1000;
 * the child must sample at the fleet's rate, not its environment's (a
 * PostgreSQL backend forked after `oxprofctl start --hz 1000` sampled at
 * OXPROF_HZ's 100 and ignored the daemon until the next command). */
TEST_TIMEOUT(agent_fork_child_follows_the_fleet_rate, 90)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_peer p;
	struct oxt_result r;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_START);
	c.hz = 333;
	oxt_command(&p, &c, &r);
	ASSERT_EQ(r.code, 0);
	oxt_result_free(&r);
	oxt_peer_close(&p);
	const char *env[] = { oxt_daemon_env(&d), "OXPROF_HZ=1000", NULL };
	char *argv[] = { OXT_SPLIT, "-d", "1500", "-f", "-n", "60000", NULL };
	pid_t parent = oxt_spawn_agent(argv, env);
	const struct oxt_agent_row *child = NULL;
	struct oxt_status st;
	for (uint64_t t0 = oxt_ms(); !child && oxt_ms() - t0 < 20000; usleep(50000)) {
		oxt_status(&d, &st);
		for (uint32_t i = 0; i < st.nagents; i++)
			if (st.agents[i].pid != parent && st.agents[i].samples > 0)
				child = &st.agents[i];
	}
	ASSERT_MSG(child, "the forked child never reported samples");
	const struct oxt_agent_row *par = oxt_status_pid(&st, parent);
	printf("  parent asks %u Hz, child %u Hz\n", par ? (unsigned)par->hz_requested : 0,
	       (unsigned)child->hz_requested);
	ASSERT_EQ(child->hz_requested, 333);
	wait_exit0(parent);
	oxt_daemon_finish(&d);
}
