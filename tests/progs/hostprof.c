/*
 * hostprof.c - a host with its own SIGPROF profiler (as gperftools or a
 * home-made one), started after the agent: it installs a SIGPROF handler
 * and an ITIMER_PROF, burns CPU, and checks that its handler saw only its
 * own timer's signals.
 *
 * hostprof [-s|-k] [-m MS] [-r HZ] [-t THREADS]
 *   -s  install the handler with signal() instead of sigaction()
 *   -k  install it with a raw rt_sigaction system call, as a runtime that
 *       bypasses libc does; then wait (burning CPU, up to 20 s) until the
 *       agent's status says it moved off SIGPROF, before counting
 *   -m  CPU milliseconds to burn after installing it (default 1000)
 *   -r  ITIMER_PROF rate (default 100 Hz)
 *   -t  extra threads burning alongside the main one (default 1)
 * Burns before_host() first (the agent alone, leaf spin_alone), then
 * after_host() (both profilers, leaf spin_shared).  Prints "hits=H foreign=F cpu=S max=M prev=P cur=C source=..."
 * where foreign counts handler calls that did not come from the kernel's
 * itimer (si_code != SI_KERNEL), prev says what sigaction reported as the
 * previous SIGPROF action (dfl, ign, other), cur whether a query returns
 * our handler (ours, other).  Exit status 0 whatever it saw: the test
 * judges.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define NOINL __attribute__((noinline, noipa))

static volatile sig_atomic_t hits, foreign;
static _Atomic int stop;
static int use_signal, use_raw;

/* The kernel's struct sigaction (x86-64). */
struct ksigaction {
	void (*handler)(int, siginfo_t *, void *);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};
#define KSA_RESTORER 0x04000000UL

/* Install on_prof_info without libc: borrow libc's restorer from the
 * action in place (installed through libc by the agent).  Returns what
 * was there, as libc would, or -1. */
static int raw_install(struct sigaction *prev, void (*fn)(int, siginfo_t *, void *))
{
	struct ksigaction cur, k;
	if (syscall(SYS_rt_sigaction, SIGPROF, NULL, &cur, 8) != 0 || !(cur.flags & KSA_RESTORER))
		return -1;
	memset(prev, 0, sizeof(*prev));
	prev->sa_sigaction = cur.handler;
	prev->sa_flags = (int)(cur.flags & ~KSA_RESTORER);
	memset(&k, 0, sizeof(k));
	k.handler = fn;
	k.flags = SA_SIGINFO | SA_RESTART | KSA_RESTORER;
	k.restorer = cur.restorer;
	return (int)syscall(SYS_rt_sigaction, SIGPROF, &k, NULL, 8);
}

static void on_prof_info(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	hits++;
	if (si->si_code != SI_KERNEL)
		foreign++;
}

static void on_prof(int sig)
{
	(void)sig;
	hits++;
}

#define SPIN(x)                                          \
	for (int i = 0; i < 4096; i++) {                 \
		x ^= x << 13;                            \
		x ^= x >> 7;                             \
		x ^= x << 17;                            \
		__asm__ volatile("" : "+r"(x));          \
	}

/* The leaves the agent's samples land in, before and after the host
 * installed its profiler. */
NOINL uint64_t spin_alone(uint64_t x) { SPIN(x); return x; }
NOINL uint64_t spin_shared(uint64_t x) { SPIN(x); return x; }

static double proc_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double thread_cpu(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

NOINL uint64_t spin_settle(uint64_t x) { SPIN(x); return x; }

struct status {
	int running, connected, mode;
	unsigned hz_requested;
	double hz_achieved;
	char source[64];
	uint64_t taken, sent, dropped, skipped, unwind_fail;
};

static void agent_source(char *buf, size_t len)
{
	struct status st;
	int (*status)(struct status *) =
		(int (*)(struct status *))dlsym(RTLD_DEFAULT, "oxprof_status");
	snprintf(buf, len, "?");
	if (status && status(&st) == 0)
		snprintf(buf, len, "%s", st.source);
}

/* Until the agent says the host took SIGPROF from it (20 s at most). */
static void settle(void)
{
	uint64_t x = 1;
	char src[64];
	double t0 = proc_cpu();
	for (int i = 0; i < 20000; i++) {
		agent_source(src, sizeof(src));
		if (strstr(src, "host took"))
			break;
		double c = thread_cpu();
		while (thread_cpu() - c < 0.001)
			x = spin_settle(x);
		if (proc_cpu() - t0 > 20)
			break;
	}
	hits = foreign = 0;
}

NOINL uint64_t before_host(double secs)
{
	uint64_t x = 1;
	double t0 = thread_cpu();
	while (thread_cpu() - t0 < secs)
		x = spin_alone(x);
	return x;
}

NOINL uint64_t after_host(double secs)
{
	uint64_t x = 1;
	double t0 = thread_cpu();
	while (thread_cpu() - t0 < secs && !stop)
		x = spin_shared(x);
	return x;
}

static void *helper(void *arg)
{
	return (void *)(uintptr_t)(after_host(*(double *)arg) & 1);
}

static const char *kind(const struct sigaction *sa)
{
	if (sa->sa_flags & SA_SIGINFO)
		return sa->sa_sigaction == on_prof_info ? "ours" : "other";
	if (sa->sa_handler == SIG_DFL)
		return "dfl";
	if (sa->sa_handler == SIG_IGN)
		return "ign";
	return sa->sa_handler == on_prof ? "ours" : "other";
}

int main(int argc, char **argv)
{
	long ms = 1000, hz = 100, nthreads = 1;
	int opt;
	while ((opt = getopt(argc, argv, "skm:r:t:")) != -1) {
		switch (opt) {
		case 's': use_signal = 1; break;
		case 'k': use_raw = 1; break;
		case 'm': ms = atol(optarg); break;
		case 'r': hz = atol(optarg); break;
		case 't': nthreads = atol(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-s] [-m MS] [-r HZ] [-t N]\n", argv[0]);
			return 2;
		}
	}
	if (nthreads < 0 || nthreads > 8)
		nthreads = 1;
	before_host(0.2);

	struct sigaction sa, prev, cur;
	memset(&prev, 0, sizeof(prev));
	if (use_signal) {
		void (*old)(int) = signal(SIGPROF, on_prof);
		prev.sa_handler = old;
	} else if (use_raw) {
		if (raw_install(&prev, on_prof_info) != 0) {
			perror("rt_sigaction");
			return 1;
		}
		/* A runtime bypassing libc may well not use it to look. */
		memset(&prev, 0, sizeof(prev));
		settle();
	} else {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_prof_info;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGPROF, &sa, &prev);
	}
	sigaction(SIGPROF, NULL, &cur);
	struct itimerval it = { { 0, 1000000 / hz }, { 0, 1000000 / hz } };
	setitimer(ITIMER_PROF, &it, NULL);

	double secs = (double)ms / 1000.0, c0 = proc_cpu();
	pthread_t t[8];
	for (long i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, helper, &secs);
	after_host(secs);
	stop = 1;
	for (long i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	double cpu = proc_cpu() - c0;

	struct itimerval off;
	memset(&off, 0, sizeof(off));
	setitimer(ITIMER_PROF, &off, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPROF, &sa, NULL);

	char source[64];
	agent_source(source, sizeof(source));
	/* One itimer signal per 1/hz of process CPU, a few more for the
	 * granularity of the tick that charges it. */
	long max = (long)(cpu * (double)hz * 1.5) + 10;
	printf("hits=%ld foreign=%ld cpu=%.3f max=%ld prev=%s cur=%s source=%s\n",
	       (long)hits, (long)foreign, cpu, max, kind(&prev), kind(&cur), source);
	return 0;
}
