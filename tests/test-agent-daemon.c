/*
 * test-agent-daemon.c - the real agent in a real program reporting to the
 * real oxprofd: joining paused, unpausing, exact counts, and a daemon that
 * goes away and comes back mid-run.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "daemon-ctl.h"
#include "task.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0)
		;
}

static int is_exited(const struct oxp_agent_row *r)
{
	return r->state == OXP_AGENT_EXITED;
}

static int has_samples(const struct oxp_agent_row *r)
{
	return r->samples > 0;
}

static int is_paused(const struct oxp_agent_row *r)
{
	return r->state == OXP_AGENT_PAUSED;
}

static void sock_path(char *sock, size_t len, char *dir, size_t dlen)
{
	oxt_tmpdir(dir, dlen);
	snprintf(sock, len, "%s/oxprof.sock", dir);
}

static void wait_exit0(pid_t pid)
{
	int st;
	ASSERT(waitpid(pid, &st, 0) == pid);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "profiled program: status %d", st);
}

TEST_TIMEOUT(agent_joins_paused_then_unpause_samples, 90)
{
	char dir[64], sock[128], sockv[160];
	sock_path(sock, sizeof(sock), dir, sizeof(dir));
	pid_t d = oxt_daemon_start(sock, NULL);
	snprintf(sockv, sizeof(sockv), "OXPROF_SOCKET=%s", sock);
	const char *env[] = { sockv, NULL };
	char *argv[] = { OXT_SPLIT, "-n", "120000", NULL };
	pid_t p = oxt_spawn_agent(argv, env);
	struct oxp_agent_row row;
	/* Joined and paused: no samples while paused. */
	ASSERT_MSG(oxt_wait_row(sock, p, is_paused, 5000, &row) == 0, "agent did not join paused");
	sleep_ms(300);
	ASSERT_EQ(oxt_agent_row(sock, p, &row), 0);
	ASSERT_EQ(row.samples, 0);
	uint32_t affected = 0;
	ASSERT_EQ(oxt_ctl_cmd(sock, OXP_CMD_UNPAUSE, 0, &affected), 0);
	ASSERT(affected >= 1);
	ASSERT_MSG(oxt_wait_row(sock, p, has_samples, 5000, &row) == 0, "no samples after unpause");
	wait_exit0(p);
	ASSERT_MSG(oxt_wait_row(sock, p, is_exited, 5000, &row) == 0, "agent row never exited");
	/* Every sample the agent took was accepted or reported dropped. */
	ASSERT_EQ(row.taken, row.sent + row.dropped_agent);
	ASSERT_EQ(row.sent, row.samples + row.dropped_daemon);
	uint64_t self, total;
	ASSERT_EQ(oxt_query_self(sock, p, "hot_a", &self, &total), 0);
	ASSERT_EQ(total, row.samples);
	ASSERT_MSG(self * 100 > total * 50, "hot_a self %llu of %llu", (unsigned long long)self,
		   (unsigned long long)total);
	/* Many pcs in hot_a, one folded row per function path; rows sum up. */
	uint32_t rows, dups;
	uint64_t sum;
	ASSERT_EQ(oxt_query_folded(sock, p, &rows, &dups, &sum), 0);
	ASSERT_MSG(dups == 0, "%u of %u folded rows repeat a stack", dups, rows);
	ASSERT_EQ(sum, total);
	ASSERT_EQ(WEXITSTATUS(oxt_daemon_stop(d, SIGTERM)), 0);
}

/* The daemon stops (gracefully, keeping a snapshot) while the agent
 * samples, and a new one starts on the same socket and state: the agent
 * reconnects, sends what it kept, and every sample is accounted for. */
TEST_TIMEOUT(agent_daemon_restart_loses_nothing, 90)
{
	char dir[64], sock[128], sockv[160], state[160];
	sock_path(sock, sizeof(sock), dir, sizeof(dir));
	snprintf(state, sizeof(state), "%s/state", dir);
	const char *extra[] = { "--state-dir", state, NULL };
	pid_t d = oxt_daemon_start(sock, extra);
	snprintf(sockv, sizeof(sockv), "OXPROF_SOCKET=%s", sock);
	const char *env[] = { sockv, "OXPROF_START=1", "OXPROF_HZ=1000", NULL };
	char *argv[] = { OXT_SPLIT, "-n", "150000", NULL };
	pid_t p = oxt_spawn_agent(argv, env);
	struct oxp_agent_row row;
	ASSERT_MSG(oxt_wait_row(sock, p, has_samples, 5000, &row) == 0, "no samples at first");
	ASSERT_EQ(WEXITSTATUS(oxt_daemon_stop(d, SIGTERM)), 0);
	sleep_ms(600); /* the agent samples on without a daemon */
	d = oxt_daemon_start(sock, extra);
	wait_exit0(p);
	ASSERT_MSG(oxt_wait_row(sock, p, is_exited, 8000, &row) == 0, "agent row never exited");
	printf("  taken %llu sent %llu dropped %llu; daemon accepted %llu refused %llu\n",
	       (unsigned long long)row.taken, (unsigned long long)row.sent,
	       (unsigned long long)row.dropped_agent, (unsigned long long)row.samples,
	       (unsigned long long)row.dropped_daemon);
	ASSERT_EQ(row.taken, row.sent + row.dropped_agent);
	ASSERT_EQ(row.samples + row.dropped_daemon, row.sent);
	ASSERT_EQ(WEXITSTATUS(oxt_daemon_stop(d, SIGTERM)), 0);
}

/* kill -9: what the dead daemon had acknowledged is gone with it, but the
 * agent's own books still balance and the new daemon gets what was kept. */
TEST_TIMEOUT(agent_daemon_killed_agent_accounts_exactly, 90)
{
	char dir[64], sock[128], sockv[160];
	sock_path(sock, sizeof(sock), dir, sizeof(dir));
	pid_t d = oxt_daemon_start(sock, NULL);
	snprintf(sockv, sizeof(sockv), "OXPROF_SOCKET=%s", sock);
	const char *env[] = { sockv, "OXPROF_START=1", "OXPROF_HZ=1000", NULL };
	char *argv[] = { OXT_SPLIT, "-n", "150000", NULL };
	pid_t p = oxt_spawn_agent(argv, env);
	struct oxp_agent_row row;
	ASSERT_MSG(oxt_wait_row(sock, p, has_samples, 5000, &row) == 0, "no samples at first");
	oxt_daemon_stop(d, SIGKILL);
	unlink(sock);
	sleep_ms(600);
	d = oxt_daemon_start(sock, NULL);
	wait_exit0(p);
	ASSERT_MSG(oxt_wait_row(sock, p, is_exited, 8000, &row) == 0, "agent row never exited");
	ASSERT_EQ(row.taken, row.sent + row.dropped_agent);
	ASSERT(row.samples > 0 && row.samples + row.dropped_daemon <= row.sent);
	ASSERT_EQ(WEXITSTATUS(oxt_daemon_stop(d, SIGTERM)), 0);
}
