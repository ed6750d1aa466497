/*
 * test-agent-e2e.c - the real agent preloaded into a real program
 * (tests/progs/split.c: hot_a 60 %, hot_b 30 %, hot_c 10 % of its CPU),
 * stand-alone: OXPROF_DAEMON=0 and folded output at exit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "task.h"

static const char *const leaves[] = { "hot_a", "hot_b", "hot_c" };
static const double truth[] = { 0.6, 0.3, 0.1 };

/* Run argv stand-alone with the agent at hz; return the folded summary. */
static void profile(char *const argv[], const char *hz, const char *const *names, int n,
		    struct oxt_folded *f, double *cpu)
{
	char dir[64], out[128], hzv[32], outv[160];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.folded", dir);
	snprintf(hzv, sizeof(hzv), "OXPROF_HZ=%s", hz);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s", out);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", hzv, outv, NULL };
	double cpu0 = oxt_children_cpu();
	int st = oxt_run_agent(argv, env, NULL, 0);
	*cpu = oxt_children_cpu() - cpu0;
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited with status %d", argv[0], st);
	ASSERT_MSG(oxt_read_folded(out, names, n, f) == 0, "no profile written to %s", out);
}

/*
 * Run split stand-alone at hz; check shares and rate.  rounds is chosen so
 * the run yields >= 2 400 samples: then 3 percentage points is >= 3 sigma of
 * the binomial error of a 60 % share, and a failure means a real bias.
 */
static void check_split(const char *threads, const char *hz, const char *rounds,
			double min_rate_ratio)
{
	char *argv[] = { OXT_SPLIT, "-t", (char *)threads, "-n", (char *)rounds, NULL };
	struct oxt_folded f;
	double cpu;
	profile(argv, hz, leaves, 3, &f, &cpu);
	double rate = (double)f.total / cpu;
	printf("  threads=%s hz=%s: %llu samples in %.2f CPU-s = %.0f Hz; a=%.1f%% b=%.1f%% c=%.1f%%\n",
	       threads, hz, (unsigned long long)f.total, cpu, rate,
	       100.0 * f.leaf[0] / f.total, 100.0 * f.leaf[1] / f.total, 100.0 * f.leaf[2] / f.total);
	ASSERT_MSG(rate >= min_rate_ratio * atof(hz), "achieved %.0f Hz of %s asked", rate, hz);
	for (int i = 0; i < 3; i++) {
		double share = (double)f.leaf[i] / (double)f.total;
		ASSERT_MSG(share > truth[i] - 0.03 && share < truth[i] + 0.03,
			   "%s has %.1f%% of samples, truth %.0f%%", leaves[i], 100 * share, 100 * truth[i]);
	}
}

/* The rate floors catch a source that cannot deliver the rate asked (a
 * tick-bound CPU timer gives 0.25 of 1 kHz here), not a few percent: the
 * true rate is a benchmark figure (bench/RESULTS.md), and under ASan on a
 * loaded 2-core machine the measured ratio dips to 0.93. */
TEST_TIMEOUT(agent_standalone_shares_and_rate_1_thread_1khz, 120)
{
	check_split("1", "1000", "170000", 0.85);
}

TEST_TIMEOUT(agent_standalone_shares_and_rate_4_threads_1khz, 120)
{
	check_split("4", "1000", "45000", 0.85);
}

TEST_TIMEOUT(agent_standalone_10khz, 120)
{
	/* Generous: at 10 kHz a signal costs ~27 us in this VM (27 % of the
	 * CPU), and the rate is measured against that inflated CPU time. */
	check_split("2", "10000", "30000", 0.75);
}

TEST(agent_paused_takes_no_samples)
{
	char dir[64], outv[160], out[128];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.folded", dir);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s", out);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_HZ=1000", outv, NULL };
	char *argv[] = { OXT_SPLIT, "-n", "500", NULL };
	int st = oxt_run_agent(argv, env, NULL, 0);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct oxt_folded f;
	ASSERT_EQ(oxt_read_folded(out, leaves, 3, &f), 0);
	ASSERT_EQ(f.total, 0);
}

TEST_TIMEOUT(agent_fork_child_profiles_itself, 120)
{
	char dir[64], outv[160], out[256], buf[128];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s/out.%%p.folded", dir);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=1000", outv, NULL };
	char *argv[] = { OXT_SPLIT, "-f", "-n", "15000", NULL };
	int st = oxt_run_agent(argv, env, buf, sizeof(buf));
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	int pid = 0, child = 0;
	ASSERT(sscanf(buf, "pid=%d child=%d", &pid, &child) == 2 && child > 0);
	struct oxt_folded fp, fc;
	snprintf(out, sizeof(out), "%s/out.%d.folded", dir, pid);
	ASSERT_MSG(oxt_read_folded(out, leaves, 3, &fp) == 0, "no parent profile %s", out);
	snprintf(out, sizeof(out), "%s/out.%d.folded", dir, child);
	ASSERT_MSG(oxt_read_folded(out, leaves, 3, &fc) == 0, "no child profile %s", out);
	/* Both did the same work: each has a fair share of samples. */
	ASSERT_MSG(fc.total > 150 && fp.total > 150, "parent %llu, child %llu samples",
		   (unsigned long long)fp.total, (unsigned long long)fc.total);
}

TEST(agent_exec_and_exit_status_survive)
{
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=1000", NULL };
	char *argv[] = { OXT_SPLIT, "-x", "-n", "300", NULL };
	int st = oxt_run_agent(argv, env, NULL, 0);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "exec'd CPU loop: status %d", st);
	char *argv3[] = { OXT_SPLIT, "-e", "3", "-n", "100", NULL };
	st = oxt_run_agent(argv3, env, NULL, 0);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 3, "exit 3: status %d", st);
}

TEST_TIMEOUT(agent_wall_mode_sees_blocked_thread, 60)
{
	char dir[64], outv[160], out[128];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.folded", dir);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s", out);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=200",
			      "OXPROF_MODE=wall", outv, NULL };
	char *argv[] = { OXT_SPLIT, "-s", "800", "-n", "1000", NULL };
	int st = oxt_run_agent(argv, env, NULL, 0);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	FILE *fp = fopen(out, "r");
	ASSERT(fp);
	char line[8192];
	unsigned long long sleeping = 0, n;
	while (fgets(line, sizeof(line), fp)) {
		char *sp = strrchr(line, ' ');
		if (sp && strstr(line, "sleeper") && sscanf(sp, " %llu", &n) == 1)
			sleeping += n;
	}
	fclose(fp);
	/* The sleeper sleeps 0.8 s: about 160 samples at 200 Hz on an idle
	 * machine.  A loaded one delivers fewer to a sleeping thread (it must
	 * be scheduled to take each; the timer's overruns coalesce), so this
	 * asks only that sleeping is sampled many times, not at what rate. */
	printf("  %llu samples of the thread sleeping 0.8 s at 200 Hz\n", sleeping);
	ASSERT_MSG(sleeping >= 16, "only %llu samples of the sleeping thread", sleeping);
}

TEST_TIMEOUT(agent_names_jit_code_from_perf_map, 60)
{
	static const char *const jit[] = { "jitted_hot_loop" };
	char *argv[] = { OXT_JIT, "3000", NULL }; /* > one flush (250 ms) */
	struct oxt_folded f;
	double cpu;
	profile(argv, "1000", jit, 1, &f, &cpu);
	ASSERT_MSG(f.total > 100, "%llu samples", (unsigned long long)f.total);
	ASSERT_MSG(f.leaf[0] * 10 > f.total * 9, "jitted_hot_loop has %llu of %llu samples",
		   (unsigned long long)f.leaf[0], (unsigned long long)f.total);
}

#ifdef OXT_WORKLOAD
/* The shared yardstick: leaf_a 60 %, leaf_b 30 %, leaf_c 10 % (its README
 * measured 60.1/29.9/10.1 here). */
static void check_workload(const char *threads, const char *rounds)
{
	static const char *const names[] = { "leaf_a", "leaf_b", "leaf_c" };
	char *argv[] = { OXT_WORKLOAD, "-t", (char *)threads, "-n", (char *)rounds, NULL };
	struct oxt_folded f;
	double cpu;
	profile(argv, "1000", names, 3, &f, &cpu);
	double rate = (double)f.total / cpu;
	printf("  workload threads=%s: %llu samples in %.2f CPU-s = %.0f Hz; a=%.1f%% b=%.1f%% c=%.1f%%\n",
	       threads, (unsigned long long)f.total, cpu, rate, 100.0 * f.leaf[0] / f.total,
	       100.0 * f.leaf[1] / f.total, 100.0 * f.leaf[2] / f.total);
	ASSERT_MSG(rate >= 850, "achieved %.0f Hz of 1000 asked", rate); /* see above */
	for (int i = 0; i < 3; i++) {
		double share = (double)f.leaf[i] / (double)f.total;
		ASSERT_MSG(share > truth[i] - 0.03 && share < truth[i] + 0.03,
			   "%s has %.1f%% of samples, truth %.0f%%", names[i], 100 * share, 100 * truth[i]);
	}
}

TEST_TIMEOUT(agent_shared_workload_1_thread_1khz, 120)
{
	check_workload("1", "200000");
}

TEST_TIMEOUT(agent_shared_workload_4_threads_1khz, 120)
{
	check_workload("4", "200000");
}
#endif

/* The API, from a program linked with liboxprof (no LD_PRELOAD). */
TEST_TIMEOUT(agent_linked_api_start_unpause_dump_stop, 60)
{
	int pfd[2];
	ASSERT(pipe(pfd) == 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		unsetenv("LD_PRELOAD");
		execl(OXT_LINKED, OXT_LINKED, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	static char out[1 << 16];
	size_t got = 0;
	ssize_t n;
	while (got + 1 < sizeof(out) && (n = read(pfd[0], out + got, sizeof(out) - got - 1)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(pfd[0]);
	int st;
	ASSERT(waitpid(pid, &st, 0) == pid);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "linked: status %d", st);
	/* The dump is folded stacks with the hot function as a leaf. */
	ASSERT_MSG(strstr(out, ";linked_hot "), "no linked_hot leaf in the dump:\n%.400s", out);
}
