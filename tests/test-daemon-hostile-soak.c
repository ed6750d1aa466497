/*
 * test-daemon-hostile-soak.c - every attack of test-daemon-hostile*, round
 * after round, while root and another user keep being served.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "hostile.h"
#include "task.h"

/* ---- soak ---- */

/* nobody's side: every attack above, round after round, until released. */
static void soak_attacker(const struct oxt_daemon *d, int hold)
{
	for (int round = 0;; round++) {
		struct pollfd pf = { hold, POLLIN, 0 };
		if (poll(&pf, 1, 0) > 0)
			_exit(0); /* released (EOF) */
		int n = 50, batches = 8, partial = 64, silent = 1100, claims = 20;
		switch (round % 5) {
		case 0: hello_flood(d, &n); break;
		case 1: sparse_flood(d, &batches); break;
		case 2: partial_frames(d, &partial); break;
		case 3: silent_conns(d, &silent); break;
		default: claim_flood(d, &claims); break;
		}
		for (int fd = 3; fd < 8192; fd++) /* let go of what the round held */
			if (fd != hold)
				close(fd);
	}
}

/*
 * OXT_HOSTILE_SOAK=SECONDS: nobody runs every attack in turn for that long
 * against default budgets (or --mem-budget OXT_HOSTILE_SOAK_BUDGET), while three agents send 100 samples each per
 * round and root asks for status every round.  Checks: status is always
 * answered, mem_used never over budget, each agent's books exact, peak RSS
 * within the budget.  Skipped without the variable (a measurement).
 */
TEST_TIMEOUT(hostile_soak, 3600)
{
	const char *env = getenv("OXT_HOSTILE_SOAK");
	if (!env || skip_unless_root()) {
		OXT_SKIP("set OXT_HOSTILE_SOAK=SECONDS to run the soak");
	}
	int secs = atoi(env);
	struct oxt_daemon d;
	const char *budget_env = getenv("OXT_HOSTILE_SOAK_BUDGET"); /* e.g. 32M */
	const char *args[] = { "--mem-budget", budget_env, NULL };
	oxt_daemon_start(&d, budget_env ? args : NULL);
	ASSERT(chmod(d.dir, 0755) == 0);
	int hp[2];
	ASSERT(pipe(hp) == 0);
	fflush(NULL);
	pid_t kid = fork();
	ASSERT(kid >= 0);
	if (kid == 0) {
		close(hp[1]);
		become(NOBODY, NOGROUP);
		soak_attacker(&d, hp[0]);
	}
	close(hp[0]);
	static struct oxt_agent ag[3];
	uint64_t sent[3] = { 0 }, acc[3] = { 0 }, ref[3] = { 0 };
	static const char *const exes[3] = { "/usr/bin/soak-a", "/usr/bin/soak-b", "/usr/bin/soak-c" };
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(oxt_agent_join(&ag[i], &d, exes[i]), 0);
	uint64_t t0 = oxt_ms(), statuses = 0, max_used = 0, budget = 0;
	long max_rss = 0;
	struct hstatus st;
	while (oxt_ms() - t0 < (uint64_t)secs * 1000) {
		for (int i = 0; i < 3; i++) {
			char stack[64];
			snprintf(stack, sizeof(stack), "main;work_%d;leaf_%llu", i,
				 (unsigned long long)(statuses % 50));
			oxt_agent_add(&ag[i], 1, "main", stack, 100);
			struct oxp_samples_ack k;
			ASSERT_EQ(oxt_agent_flush(&ag[i], &k), 0);
			sent[i] += 100;
			acc[i] += k.accepted;
			ref[i] += k.refused;
		}
		status(&d, &st); /* asserts it is answered */
		statuses++;
		ASSERT_MSG(st.mem_used <= st.mem_budget, "mem_used %llu over budget %llu",
			   (unsigned long long)st.mem_used, (unsigned long long)st.mem_budget);
		max_used = st.mem_used > max_used ? st.mem_used : max_used;
		budget = st.mem_budget;
		long rss = rss_kb(&d);
		max_rss = rss > max_rss ? rss : max_rss;
		usleep(100000);
	}
	close(hp[1]);
	int ws;
	ASSERT(waitpid(kid, &ws, 0) == kid);
	status(&d, &st);
	print_status("after the soak", &d, &st);
	printf("  soak %d s: %llu statuses answered, peak mem_used %llu of %llu, peak RSS %ld KiB "
	       "(VmHWM %ld KiB)\n", secs, (unsigned long long)statuses,
	       (unsigned long long)max_used, (unsigned long long)budget, max_rss,
	       oxt_daemon_rss_kb(&d));
	for (int i = 0; i < 3; i++) {
		printf("  agent %s: sent %llu, accepted %llu, refused %llu\n", exes[i],
		       (unsigned long long)sent[i], (unsigned long long)acc[i],
		       (unsigned long long)ref[i]);
		ASSERT_EQ(acc[i] + ref[i], sent[i]);
		const struct hrow *row = pid_row(&st, getpid());
		ASSERT(row);
	}
	uint64_t total_acc = acc[0] + acc[1] + acc[2];
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_QUERY);
	c.sel.npids = 1;
	int32_t me = getpid();
	c.sel.pids = &me;
	struct oxt_result r;
	oxt_command(&p, &c, &r);
	ASSERT_EQ(r.head.total, total_acc); /* what was acknowledged is what is counted */
	oxt_result_free(&r);
	oxt_peer_close(&p);
	check_rss(oxt_daemon_rss_kb(&d) - 0, budget);
	for (int i = 0; i < 3; i++)
		oxt_agent_leave(&ag[i]);
	oxt_daemon_finish(&d);
}
