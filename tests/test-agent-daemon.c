/*
 * test-agent-daemon.c - the real agent in a real program reporting to the
 * real oxprofd: joining paused, unpausing, exact counts, and a daemon that
 * goes away and comes back mid-run.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "daemon-harness.h"
#include "task.h"

/* Poll status until pid's row satisfies pred; 0, or -1 on timeout. */
static int wait_row(const struct oxt_daemon *d, int32_t pid,
		    int (*pred)(const struct oxt_agent_row *), int timeout_ms,
		    struct oxt_agent_row *row)
{
	for (uint64_t t0 = oxt_ms(); oxt_ms() - t0 < (uint64_t)timeout_ms; usleep(50000)) {
		struct oxt_status st;
		oxt_status(d, &st);
		const struct oxt_agent_row *r = oxt_status_pid(&st, pid);
		if (r && pred(r)) {
			*row = *r;
			return 0;
		}
	}
	return -1;
}

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

static pid_t spawn_split(const struct oxt_daemon *d, const char *extra_env, const char *rounds)
{
	static char sockv[400];
	snprintf(sockv, sizeof(sockv), "OXPROF_SOCKET=%s", d->sock);
	const char *env[] = { sockv, "OXPROF_HZ=1000", extra_env, NULL };
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
	ASSERT_MSG(wait_row(&d, p, is_paused, 5000, &row) == 0, "agent did not join paused");
	usleep(300000);
	ASSERT_MSG(wait_row(&d, p, is_paused, 1000, &row) == 0 && row.samples == 0,
		   "samples while paused");
	struct oxt_result r;
	ASSERT_EQ(oxt_simple(&d, OXP_CMD_UNPAUSE, &r), 0);
	ASSERT(r.affected >= 1);
	oxt_result_free(&r);
	ASSERT_MSG(wait_row(&d, p, has_samples, 5000, &row) == 0, "no samples after unpause");
	wait_exit0(p);
	ASSERT_MSG(wait_row(&d, p, is_exited, 5000, &row) == 0, "agent row never exited");
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
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* The daemon stops (gracefully, keeping a snapshot) while the agent
 * samples, and a new one starts on the same socket and state: the agent
 * reconnects, sends what it kept, and every sample is accounted for. */
TEST_TIMEOUT(agent_daemon_restart_loses_nothing, 90)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	oxt_daemon_stop(&d);
	const char *args[] = { "--state-dir", d.state, NULL };
	oxt_daemon_restart(&d, args);
	pid_t p = spawn_split(&d, "OXPROF_START=1", "150000");
	struct oxt_agent_row row;
	ASSERT_MSG(wait_row(&d, p, has_samples, 5000, &row) == 0, "no samples at first");
	oxt_daemon_stop(&d);
	usleep(600000); /* the agent samples on without a daemon */
	oxt_daemon_restart(&d, args);
	wait_exit0(p);
	ASSERT_MSG(wait_row(&d, p, is_exited, 8000, &row) == 0, "agent row never exited");
	check_accounts(&row);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* kill -9: what the dead daemon had acknowledged is gone with it, but the
 * agent's own books still balance and the new daemon gets what was kept. */
TEST_TIMEOUT(agent_daemon_killed_agent_accounts_exactly, 90)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	pid_t p = spawn_split(&d, "OXPROF_START=1", "150000");
	struct oxt_agent_row row;
	ASSERT_MSG(wait_row(&d, p, has_samples, 5000, &row) == 0, "no samples at first");
	oxt_daemon_kill9(&d);
	usleep(600000);
	oxt_daemon_restart(&d, NULL);
	wait_exit0(p);
	ASSERT_MSG(wait_row(&d, p, is_exited, 8000, &row) == 0, "agent row never exited");
	ASSERT_EQ(row.taken, row.sent + row.dropped_agent);
	ASSERT(row.samples > 0 && row.samples + row.dropped_daemon <= row.sent);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* A daemon that is neither root, nor the agent's own user, nor the one
 * named by OXPROF_DAEMON_USER gets no stacks: a socket squatted by another
 * user learns nothing.  Needs root (to run the daemon as nobody). */
TEST_TIMEOUT(agent_refuses_untrusted_daemon_uid, 60)
{
	if (getuid() != 0) {
		printf("  SKIP: needs root to run oxprofd as another user\n");
		return;
	}
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL); /* for its temp dir and paths only */
	oxt_daemon_stop(&d);
	chmod(d.dir, 01777); /* like /tmp: sticky, or oxprofd refuses it */
	unlink(d.sock);
	pid_t dp = fork();
	ASSERT(dp >= 0);
	if (dp == 0) {
		gid_t g = 65534;
		if (setgroups(1, &g) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(126);
		execl(OXPROFD_PATH, OXPROFD_PATH, "--socket", d.sock, "--log-level", "warn",
		      (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && access(d.sock, F_OK) != 0; i++)
		usleep(50000);
	d.pid = dp;
	pid_t untrusting = spawn_split(&d, "OXPROF_START=1", "40000");
	pid_t trusting = spawn_split(&d, "OXPROF_DAEMON_USER=65534", "40000");
	struct oxt_agent_row row;
	ASSERT_MSG(wait_row(&d, trusting, is_paused, 5000, &row) == 0,
		   "the agent told to trust uid 65534 did not join");
	usleep(500000);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_MSG(!oxt_status_pid(&st, untrusting),
		   "an agent sent its stacks to a daemon run by uid 65534");
	wait_exit0(untrusting);
	wait_exit0(trusting);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}
