/*
 * test-agent-signals.c - the agent's sampling side inside ordinary hosts:
 * a host that takes SIGPROF after the agent started (tests/progs/hostprof),
 * the cost of thread creation while paused, and short threads
 * (tests/progs/shortthreads).  Real agent, preloaded, stand-alone; and the
 * signal interposers in this process, with the sampling core linked in.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "sampler/sampler_int.h"
#include "task.h"

/* ---- a host with its own SIGPROF profiler, installed later ---- */

struct host_result {
	long hits, foreign, max;
	double cpu;
	char prev[16], cur[16], source[80];
};

static void parse_host(const char *out, struct host_result *h)
{
	memset(h, 0, sizeof(*h));
	const char *p = strstr(out, "hits=");
	ASSERT_MSG(p && sscanf(p, "hits=%ld foreign=%ld cpu=%lf max=%ld prev=%15s cur=%15s",
			       &h->hits, &h->foreign, &h->cpu, &h->max, h->prev, h->cur) == 6,
		   "hostprof said: %s", out);
	const char *s = strstr(p, "source=");
	ASSERT(s);
	snprintf(h->source, sizeof(h->source), "%s", s + 7);
	h->source[strcspn(h->source, "\n")] = 0;
}

static void host_takes_sigprof(const char *how)
{
	char dir[64], out[128], outv[160], buf[1024];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.folded", dir);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s", out);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=1000", outv, NULL };
	char *argv[] = { OXT_HOSTPROF, "-m", "1000", "-r", "100", "-t", "1", (char *)how, NULL };
	int st = oxt_run_agent(argv, env, buf, sizeof(buf));
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "hostprof status 0x%x", st);
	struct host_result h;
	parse_host(buf, &h);
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *const names[] = { "spin_shared", "spin_alone" };
	struct oxt_folded f;
	ASSERT_MSG(oxt_read_folded(out, names, 2, &f) == 0, "no profile written to %s", out);
	printf("  %s: host handler %ld hits (at most %ld from its 100 Hz itimer over %.2f CPU-s), "
	       "%ld not from the kernel; prev=%s cur=%s\n  agent: %llu samples after, %llu before; "
	       "source \"%s\"\n", how ? how : "sigaction", h.hits, h.max, h.cpu, h.foreign,
	       h.prev, h.cur, (unsigned long long)f.leaf[0], (unsigned long long)f.leaf[1],
	       h.source);
	/* The host's handler sees its own timer's signals and nothing else. */
	ASSERT_MSG(h.hits > 0 && h.hits <= h.max, "host handler got %ld signals, its timer "
		   "gives at most %ld", h.hits, h.max);
	ASSERT_EQ(h.foreign, 0);
	/* Its queries see its own world: SIG_DFL before, its handler after. */
	ASSERT_STREQ(h.prev, "dfl");
	ASSERT_STREQ(h.cur, "ours");
	/* The agent keeps sampling, and says why the signal is shared. */
	ASSERT_MSG(f.leaf[0] >= (uint64_t)(0.3 * h.cpu * 1000), "agent took %llu samples "
		   "after the host's handler, over %.2f CPU-s at 1 kHz",
		   (unsigned long long)f.leaf[0], h.cpu);
	ASSERT_MSG(strstr(h.source, "SIGPROF") && strstr(h.source, "host"), "source \"%s\"",
		   h.source);
}

TEST_TIMEOUT(agent_host_sigaction_sigprof_after_start, 120)
{
	host_takes_sigprof(NULL);
}

TEST_TIMEOUT(agent_host_signal_sigprof_after_start, 120)
{
	host_takes_sigprof("-s");
}

/* A runtime that calls rt_sigaction itself never reaches the interposers:
 * the agent notices at its next tick and moves to a real-time signal. */
TEST_TIMEOUT(agent_host_raw_rt_sigaction_sigprof_after_start, 120)
{
	host_takes_sigprof("-k");
}

/* ---- thread creation while paused ---- */

/* Run argv under strace -f -c; total system calls, or -1 if strace cannot
 * trace here. */
static long strace_calls(char *const argv[], int agent)
{
	char dir[64], sum[128];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(sum, sizeof(sum), "%s/strace.txt", dir);
	char *sargv[16];
	int n = 0;
	sargv[n++] = "/usr/bin/strace";
	sargv[n++] = "-f";
	sargv[n++] = "-c";
	sargv[n++] = "-o";
	sargv[n++] = sum;
	sargv[n++] = "env";
	/* Without the agent, still with whatever is preloaded beside it
	 * (libasan in a sanitizer build), so only the agent's calls differ. */
	char pre[512];
	const char *rest = strchr(OXT_PRELOAD, ':');
	snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", agent ? OXT_PRELOAD : rest ? rest + 1 : "");
	sargv[n++] = pre;
	sargv[n++] = "OXPROF_DAEMON=0"; /* paused: no OXPROF_START */
	for (int i = 0; argv[i] && n < 15; i++)
		sargv[n++] = argv[i];
	sargv[n] = NULL;
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		/* LeakSanitizer cannot run under ptrace. */
		if (OXT_ASAN_OPTIONS[0])
			setenv("ASAN_OPTIONS", OXT_ASAN_OPTIONS ":detect_leaks=0", 1);
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(sargv[0], sargv);
		_exit(127);
	}
	int st;
	ASSERT(waitpid(p, &st, 0) == p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	FILE *f = fopen(sum, "r");
	if (!f)
		return -1;
	char line[256];
	long total = -1;
	while (fgets(line, sizeof(line), f)) {
		double pct, secs;
		long usecs, calls;
		char name[64];
		if (strstr(line, " total") &&
		    sscanf(line, "%lf %lf %ld %ld %63s", &pct, &secs, &usecs, &calls, name) >= 4)
			total = calls;
	}
	fclose(f);
	return total;
}

TEST_TIMEOUT(agent_paused_thread_creation_adds_no_syscalls, 300)
{
	if (access("/usr/bin/strace", X_OK) != 0) {
		OXT_SKIP("no /usr/bin/strace");
	}
	const long threads = 2000;
	char *argv[] = { OXT_SHORTTHREADS, "-n", "2000", "-u", "0", NULL };
	long base = strace_calls(argv, 0);
	if (base < 0) {
		OXT_SKIP("strace cannot trace here");
	}
	long with = strace_calls(argv, 1);
	ASSERT_MSG(with > 0, "strace of the program with the agent failed");
	double extra = (double)(with - base) / (double)threads;
	printf("  %ld threads: %ld system calls without the agent, %ld with it paused "
	       "(%.2f extra per thread)\n", threads, base, with, extra);
	/* The agent's own start-up and its idle thread's ticks are a few
	 * hundred calls in all; per thread it must add (nearly) nothing. */
	ASSERT_MSG(extra <= 0.5, "%.2f extra system calls per thread while paused", extra);
}

/* ---- short threads ---- */

TEST_TIMEOUT(agent_short_threads_sampled_at_their_cpu_share, 300)
{
	char dir[64], out[128], outv[160], buf[256];
	oxt_tmpdir(dir, sizeof(dir));
	snprintf(out, sizeof(out), "%s/out.folded", dir);
	snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s", out);
	const char *env[] = { "OXPROF_DAEMON=0", "OXPROF_START=1", "OXPROF_HZ=1000", outv, NULL };
	/* 0.3 of a 1 ms period each. */
	char *argv[] = { OXT_SHORTTHREADS, "-n", "3000", "-u", "300", NULL };
	int st = oxt_run_agent(argv, env, buf, sizeof(buf));
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "shortthreads status 0x%x", st);
	double cpu = 0;
	const char *p = strstr(buf, "burn_cpu=");
	ASSERT_MSG(p && sscanf(p, "burn_cpu=%lf", &cpu) == 1, "shortthreads said: %s", buf);
	const char *const names[] = { "short_burn" };
	struct oxt_folded f;
	ASSERT_MSG(oxt_read_folded(out, names, 1, &f) == 0, "no profile written to %s", out);
	double expect = cpu * 1000;
	printf("  3000 threads of 0.3 ms: %llu samples in short_burn, %.0f expected "
	       "(%.2f CPU-s at 1 kHz): %.2fx\n", (unsigned long long)f.leaf[0], expect, cpu,
	       (double)f.leaf[0] / expect);
	ASSERT(expect > 100);
	ASSERT_MSG((double)f.leaf[0] >= 0.5 * expect, "%llu samples, %.0f expected",
		   (unsigned long long)f.leaf[0], expect);
	/* Nor counted twice (a VM's steal time inflates the task clock a
	 * little against the thread's CPU clock, hence the margin). */
	ASSERT_MSG((double)f.leaf[0] <= 3.0 * expect, "%llu samples, %.0f expected",
		   (unsigned long long)f.leaf[0], expect);
}

/* ---- the interposers, in process (the sampler linked in) ---- */

static volatile sig_atomic_t h_hits;
static volatile int h_code;

static void h_plain(int sig)
{
	(void)sig;
	h_hits++;
}

static void h_info(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	h_hits++;
	h_code = si->si_code;
}

/* The kernel's action, not what libc (our interposer) says. */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static void kernel_action(int sig, struct ksigaction *k)
{
	ASSERT_EQ(syscall(SYS_rt_sigaction, sig, NULL, k, 8), 0);
}

static void sampler_up(void)
{
	int r = oxa_sampler_init(NULL);
	ASSERT_MSG(r == 0, "oxa_sampler_init: %d", r);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	ASSERT_EQ(st.signo, SIGPROF);
}

TEST(agent_interposed_sysv_signal_is_one_shot)
{
	sampler_up();
	ASSERT(sysv_signal(SIGPROF, h_plain) == SIG_DFL);
	ASSERT_EQ(kill(getpid(), SIGPROF), 0);
	ASSERT_EQ(h_hits, 1);
	/* One-shot: the host's action is SIG_DFL again, ours stays. */
	struct sigaction q;
	ASSERT_EQ(sigaction(SIGPROF, NULL, &q), 0);
	ASSERT(!(q.sa_flags & SA_SIGINFO) && q.sa_handler == SIG_DFL);
	struct ksigaction k;
	kernel_action(SIGPROF, &k);
	ASSERT(k.handler == (void *)oxa__handler);
	ASSERT(signal(SIGPROF, SIG_IGN) == SIG_DFL);
	ASSERT_EQ(kill(getpid(), SIGPROF), 0); /* ignored, as the host asked */
	ASSERT_EQ(h_hits, 1);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	ASSERT_EQ(st.foreign, 2);
}

/* sigset is obsolete, but hosts still call it. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST(agent_interposed_sigset_hold_and_release)
{
	sampler_up();
	ASSERT(sigset(SIGPROF, SIG_HOLD) == SIG_DFL);
	sigset_t m;
	pthread_sigmask(SIG_BLOCK, NULL, &m);
	ASSERT_EQ(sigismember(&m, SIGPROF), 1);
	ASSERT(sigset(SIGPROF, h_plain) == SIG_HOLD);
	pthread_sigmask(SIG_BLOCK, NULL, &m);
	ASSERT_EQ(sigismember(&m, SIGPROF), 0);
	ASSERT(signal(SIGPROF, SIG_DFL) == h_plain);
}

TEST(agent_host_mask_and_altstack_are_kept)
{
	sampler_up();
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h_info;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	ASSERT_EQ(sigaction(SIGPROF, &sa, &old), 0);
	ASSERT(!(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL);
	struct ksigaction k;
	kernel_action(SIGPROF, &k);
	ASSERT(k.handler == (void *)oxa__handler);
	ASSERT(k.flags & SA_ONSTACK);
	ASSERT(k.flags & SA_RESTART);
	ASSERT(k.mask & (1ull << (SIGUSR1 - 1)));
	union sigval v = { .sival_int = 7 };
	ASSERT_EQ(sigqueue(getpid(), SIGPROF, v), 0);
	ASSERT_EQ(h_hits, 1);
	ASSERT_EQ(h_code, SI_QUEUE);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	char src[80];
	oxa_sampler_describe(&st, OXA_SOURCE_PERF_TASK_CLOCK, src, sizeof(src));
	ASSERT_STREQ(src, "perf-task-clock, SIGPROF (shared with the host's handler)");
}

TEST(agent_shutdown_gives_the_host_its_handler)
{
	sampler_up();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = h_info;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	ASSERT_EQ(sigaction(SIGPROF, &sa, NULL), 0);
	oxa_sampler_shutdown();
	struct ksigaction k;
	kernel_action(SIGPROF, &k);
	ASSERT(k.handler == (void *)h_info);
	ASSERT_EQ(kill(getpid(), SIGPROF), 0);
	ASSERT_EQ(h_hits, 1);
	ASSERT_EQ(h_code, SI_USER);
}
