/*
 * sigcost.c - the CPU cost of one sampling signal, for figure 4.
 *
 * Runs a fixed amount of CPU work (a dependent xorshift loop) at the bottom
 * of a DEPTH-deep recursion, in the main thread, and prints the thread's CPU
 * time, so that runs differing only in what the signals do can be compared:
 *
 *   -m none      no signal: the work alone (the reference)
 *   -m bare      the agent's arming without the agent: a per-thread
 *                perf_event task-clock (user-only) at HZ, F_SETOWN_EX to this
 *                thread, F_SETSIG SIGPROF, refresh limit 1; the handler only
 *                counts and re-arms (PERF_EVENT_IOC_REFRESH): the floor of
 *                the agent's design
 *   -m bare-noref  the same event without a refresh limit (no ioctl in the
 *                handler): the floor of any task-clock signal
 *   -m agent     nothing armed here; run with LD_PRELOAD=liboxprof.so
 *                OXPROF_DAEMON=0 OXPROF_START=1 OXPROF_HZ=HZ, and the
 *                signals taken are read from oxprof_status() (dlsym)
 *
 * Output, one line: mode= hz= signals= thread_cpu_s= proc_cpu_s= wall_s=
 * [source= hz_achieved= taken= dropped=] for the agent.
 * Cost per signal = (thread_cpu(mode) - thread_cpu(none)) / signals.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "oxprof.h" /* agent/include: only the struct; the call is dlsym'd */

#define NOINL __attribute__((noinline, noipa, used))
#define OPAQUE(v) __asm__ volatile("" : "+r"(v))

static volatile sig_atomic_t nsig;
static int refresh;

static void handler(int sig, siginfo_t *si, void *uc)
{
	int e = errno;
	nsig++;
	if (refresh)
		ioctl(si->si_fd, PERF_EVENT_IOC_REFRESH, 1);
	errno = e;
}

NOINL static uint64_t leaf(uint64_t n, uint64_t x)
{
	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		x += 0x9E3779B97F4A7C15ull;
	}
	return x;
}

NOINL static uint64_t rec(int depth, uint64_t n, uint64_t x)
{
	uint64_t r = depth <= 1 ? leaf(n, x) : rec(depth - 1, n, x + 1);
	OPAQUE(r);
	return r ^ (uint64_t)depth;
}

static double now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int arm(unsigned hz)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPROF, &sa, NULL) < 0)
		return -errno;
	struct perf_event_attr a;
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = PERF_TYPE_SOFTWARE;
	a.config = PERF_COUNT_SW_TASK_CLOCK;
	a.sample_period = 1000000000ull / hz;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1,
			      PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct f_owner_ex own = { .type = F_OWNER_TID,
				  .pid = (pid_t)syscall(SYS_gettid) };
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETOWN_EX, &own) < 0 ||
	    fcntl(fd, F_SETSIG, SIGPROF) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_ASYNC) < 0)
		return -errno;
	if (refresh ? ioctl(fd, PERF_EVENT_IOC_REFRESH, 1)
		    : ioctl(fd, PERF_EVENT_IOC_ENABLE, 0))
		return -errno;
	return fd;
}

int main(int argc, char **argv)
{
	const char *mode = "none";
	unsigned hz = 10000;
	uint64_t iters = 400000000;
	int depth = 32, opt;
	while ((opt = getopt(argc, argv, "m:f:n:d:")) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 'f': hz = (unsigned)atoi(optarg); break;
		case 'n': iters = strtoull(optarg, NULL, 10); break;
		case 'd': depth = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-m none|bare|bare-noref|agent] "
				"[-f hz] [-n iters] [-d depth]\n", argv[0]);
			return 2;
		}
	}
	if (hz < 1 || depth < 1) {
		fprintf(stderr, "sigcost: bad arguments\n");
		return 2;
	}
	int fd = -1;
	if (!strcmp(mode, "bare") || !strcmp(mode, "bare-noref")) {
		refresh = !strcmp(mode, "bare");
		fd = arm(hz);
		if (fd < 0) {
			fprintf(stderr, "sigcost: perf_event_open/arm: %s\n",
				strerror(-fd));
			return 1;
		}
	} else if (strcmp(mode, "none") && strcmp(mode, "agent")) {
		fprintf(stderr, "sigcost: unknown mode %s\n", mode);
		return 2;
	}
	double w0 = now(CLOCK_MONOTONIC), t0 = now(CLOCK_THREAD_CPUTIME_ID);
	uint64_t x = rec(depth, iters, 0x1234567ull);
	double t1 = now(CLOCK_THREAD_CPUTIME_ID), w1 = now(CLOCK_MONOTONIC);
	if (fd >= 0)
		ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
	long sigs = nsig;
	char extra[256] = "";
	if (!strcmp(mode, "agent")) {
		int (*st)(struct oxprof_status *) =
			(int (*)(struct oxprof_status *))dlsym(RTLD_DEFAULT,
								 "oxprof_status");
		struct oxprof_status s;
		memset(&s, 0, sizeof(s));
		if (!st || st(&s) < 0) {
			fprintf(stderr, "sigcost: -m agent needs LD_PRELOAD=liboxprof.so\n");
			return 1;
		}
		sigs = (long)s.taken;
		snprintf(extra, sizeof(extra),
			 " source=%s hz_achieved=%.1f taken=%" PRIu64
			 " dropped=%" PRIu64 " skipped=%" PRIu64
			 " unwind_fail=%" PRIu64,
			 s.source[0] ? s.source : "?", s.hz_achieved, s.taken,
			 s.dropped, s.skipped, s.unwind_fail);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double pc = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	printf("mode=%s hz=%u depth=%d signals=%ld thread_cpu_s=%.6f "
	       "proc_cpu_s=%.6f wall_s=%.6f x=%016" PRIx64 "%s\n",
	       mode, hz, depth, sigs, t1 - t0, pc, w1 - w0, x, extra);
	return 0;
}
