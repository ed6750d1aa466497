/*
 * test-agent-sampler.c - the sampling core in a real process: real CPU
 * work, real signals, real threads, fork and exec.  Samples are popped
 * straight from the ring by a collector thread (excluded from sampling).
 *
 * Thresholds are generous (2 shared cores, a VM) but every case can fail.
 * Each case runs in its own forked child (runner.c), so the sampler starts
 * from scratch every time.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sampler/sampler_int.h"
#include "task.h"

/* ---- allocation watch: fail if anything allocates inside our handler */

static atomic_int bad_allocs;

static void alloc_check(void)
{
	if (oxa__tls.guard)
		atomic_fetch_add(&bad_allocs, 1);
}

#if defined(__SANITIZE_ADDRESS__)
/* From <sanitizer/allocator_interface.h>, which gcc does not ship. */
int __sanitizer_install_malloc_and_free_hooks(
	void (*m)(const volatile void *, size_t),
	void (*f)(const volatile void *));
static void hook_malloc(const volatile void *p, size_t n)
{
	(void)p, (void)n;
	alloc_check();
}
static void hook_free(const volatile void *p)
{
	(void)p;
	alloc_check();
}
__attribute__((constructor)) static void install_hooks(void)
{
	__sanitizer_install_malloc_and_free_hooks(hook_malloc, hook_free);
}
#else
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);

void *malloc(size_t n)
{
	alloc_check();
	return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
	alloc_check();
	return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
	alloc_check();
	return __libc_realloc(p, n);
}
void *memalign(size_t a, size_t n)
{
	alloc_check();
	return __libc_memalign(a, n);
}
void free(void *p)
{
	alloc_check();
	__libc_free(p);
}
#endif

/* ---- CPU work with known shape ---- */

/* Each leaf lives in its own section so a sample's pc can be attributed
 * without symbols: the linker defines __start_/__stop_ for each. */
#define IN_SEC(s) __attribute__((noinline, section(s), used))
extern char __start_oxt_a[], __stop_oxt_a[], __start_oxt_b[], __stop_oxt_b[];
extern char __start_oxt_c[], __stop_oxt_c[], __start_oxt_mid[],
	__stop_oxt_mid[];

static volatile uint64_t sink;

IN_SEC("oxt_a") void leaf_a(unsigned n);
IN_SEC("oxt_a") void leaf_a(unsigned n)
{
	uint64_t x = sink;
	for (unsigned i = 0; i < n; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	sink = x;
}
IN_SEC("oxt_b") void leaf_b(unsigned n);
IN_SEC("oxt_b") void leaf_b(unsigned n)
{
	uint64_t x = sink;
	for (unsigned i = 0; i < n; i++)
		x = x * 2862933555777941757ull + 3037000493ull;
	sink = x;
}
IN_SEC("oxt_c") void leaf_c(unsigned n);
IN_SEC("oxt_c") void leaf_c(unsigned n)
{
	uint64_t x = sink;
	for (unsigned i = 0; i < n; i++)
		x = x * 3935559000370003845ull + 2691343689449507681ull;
	sink = x;
}
/* The 6:3:1 split of shared/bench/workload.c, through a middle frame. */
IN_SEC("oxt_mid") void mid_round(unsigned k);
IN_SEC("oxt_mid") void mid_round(unsigned k)
{
	leaf_a(6000 * k);
	leaf_b(3000 * k);
	leaf_c(1000 * k);
	sink++;
}

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Burn this thread's CPU for about ms milliseconds of its own CPU time;
 * returns the CPU nanoseconds actually used. */
static int64_t burn_ms(int ms)
{
	int64_t t0 = now_ns(CLOCK_THREAD_CPUTIME_ID), t;
	unsigned k = 1;
	do {
		mid_round(k);
		k = k % 7 + 1;
		t = now_ns(CLOCK_THREAD_CPUTIME_ID);
	} while (t - t0 < (int64_t)ms * 1000000);
	return t - t0;
}

static int in_range(uintptr_t ip, const char *lo, const char *hi)
{
	return ip >= (uintptr_t)lo && ip < (uintptr_t)hi;
}

static void sleep_ms(int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	       EINTR)
		;
}

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---- collector: the "drain thread" of these tests ---- */

#define MAXREC 400000
struct rec {
	uint32_t tid;
	uint8_t state;
	uint8_t leaf;   /* 1 a, 2 b, 3 c, 0 other */
	uint8_t chain;  /* the mid frame is among the callers */
	uint16_t nframes;
};
static struct rec recs[MAXREC];
static atomic_long nrec;
static atomic_int coll_stop;
static pthread_t coll_thread;
static atomic_int coll_tid;

static void classify_rec(const struct oxa_sample *s, struct rec *r)
{
	r->tid = s->tid;
	r->state = s->state;
	r->nframes = s->nframes;
	uintptr_t pc = s->ips[0];
	r->leaf = in_range(pc, __start_oxt_a, __stop_oxt_a)   ? 1 :
		  in_range(pc, __start_oxt_b, __stop_oxt_b) ? 2 :
		  in_range(pc, __start_oxt_c, __stop_oxt_c) ? 3 : 0;
	r->chain = 0;
	for (unsigned i = 1; i < s->nframes && i < 4; i++)
		if (in_range(s->ips[i], __start_oxt_mid, __stop_oxt_mid))
			r->chain = 1;
}

static void drain_all(void)
{
	struct oxa_sample s;
	while (oxa_sampler_pop(&s)) {
		long i = atomic_load(&nrec);
		if (i < MAXREC) {
			classify_rec(&s, &recs[i]);
			atomic_store(&nrec, i + 1);
		}
	}
}

static void *collector(void *arg)
{
	(void)arg;
	oxa_sampler_exclude_self();
	atomic_store(&coll_tid, my_tid());
	while (!atomic_load(&coll_stop)) {
		drain_all();
		oxa_sampler_tick();
		sleep_ms(2);
	}
	drain_all();
	return NULL;
}

static void collector_start(void)
{
	ASSERT_EQ(pthread_create(&coll_thread, NULL, collector, NULL), 0);
	while (!atomic_load(&coll_tid))
		sleep_ms(1);
}

static void collector_stop(void)
{
	atomic_store(&coll_stop, 1);
	pthread_join(coll_thread, NULL);
}

static long count_tid(pid_t tid)
{
	long n = 0, total = atomic_load(&nrec);
	for (long i = 0; i < total; i++)
		n += recs[i].tid == (uint32_t)tid;
	return n;
}

static void init_or_die(void)
{
	int r = oxa_sampler_init(NULL);
	if (r < 0) {
		struct oxa_sampler_stats st;
		oxa_sampler_stats(&st);
		OXT_FAIL("oxa_sampler_init: %d (%s)", r, st.why);
	}
}

/* ---- rate ---- */

static void rate_case(unsigned hz, int ms, double min_ratio)
{
	init_or_die();
	collector_start();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, hz, 64), 0);
	int64_t cpu = burn_ms(ms);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	ASSERT_EQ(oxa_sampler_disarm(), 0);
	collector_stop();
	long mine = count_tid(my_tid());
	double per_cpu = (double)mine / ((double)cpu / 1e9);
	printf("  %s at %u Hz: achieved %.1f Hz (%.3fx), main thread %.1f "
	       "samples/CPU-s, taken %llu dropped %llu skipped %llu "
	       "unwind_fail %llu\n", oxa_source_name(st.source), hz,
	       st.achieved_hz, st.achieved_hz / hz, per_cpu,
	       (unsigned long long)st.taken, (unsigned long long)st.dropped,
	       (unsigned long long)st.skipped,
	       (unsigned long long)st.unwind_fail);
	if (st.source == OXA_SOURCE_CPU_TIMER) {
		/* perf refused here: the fallback must say so. */
		ASSERT_STREQ(oxa_source_name(st.source), "cpu-timer");
		ASSERT(st.note[0] != 0);
		ASSERT(st.achieved_hz > 50);
		return;
	}
	ASSERT_EQ(st.source, OXA_SOURCE_PERF_TASK_CLOCK);
	ASSERT_MSG(st.achieved_hz >= min_ratio * hz, "achieved %.1f < %.2f x %u",
		   st.achieved_hz, min_ratio, hz);
	ASSERT_MSG(per_cpu >= min_ratio * hz * 0.95, "main %.1f", per_cpu);
	ASSERT(st.achieved_hz <= 1.1 * hz);
	ASSERT_EQ(st.dropped, 0);
	ASSERT(st.unwind_fail * 100 <= st.taken);
}

TEST(agent_sampler_rate_1khz)
{
	rate_case(1000, 1500, 0.95);
}

TEST(agent_sampler_rate_100hz)
{
	rate_case(100, 1500, 0.90);
}

TEST(agent_sampler_rate_10khz)
{
	rate_case(10000, 1000, 0.80);
}

TEST(agent_sampler_timer_fallback_reports_source)
{
	setenv("OXPROF_SOURCE", "timer", 1);
	init_or_die();
	collector_start();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 64), 0);
	int64_t cpu = burn_ms(1000);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	oxa_sampler_disarm();
	collector_stop();
	long mine = count_tid(my_tid());
	printf("  cpu-timer at 1000 Hz: achieved %.1f Hz; note: %s\n",
	       st.achieved_hz, st.note);
	ASSERT_EQ(st.source, OXA_SOURCE_CPU_TIMER);
	ASSERT_STREQ(oxa_source_name(st.source), "cpu-timer");
	ASSERT(strstr(st.note, "250") != NULL);
	/* Tick-bound: well under what was asked, but sampling. */
	ASSERT(st.achieved_hz > 50 && st.achieved_hz < 1050);
	ASSERT(mine > (long)(50 * cpu / 1000000000));
}

/* ---- accuracy and stacks ---- */

TEST(agent_sampler_leaf_shares_and_stacks)
{
	init_or_die();
	collector_start();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 64), 0);
	burn_ms(2500);
	oxa_sampler_disarm();
	collector_stop();
	long n[4] = { 0 }, chain = 0, total = 0;
	pid_t me = my_tid();
	for (long i = 0; i < atomic_load(&nrec); i++) {
		if (recs[i].tid != (uint32_t)me)
			continue;
		total++;
		n[recs[i].leaf]++;
		if (recs[i].leaf)
			chain += recs[i].chain;
	}
	long leaves = n[1] + n[2] + n[3];
	ASSERT(total > 500 && leaves > 0);
	double a = 100.0 * n[1] / leaves, b = 100.0 * n[2] / leaves,
	       c = 100.0 * n[3] / leaves;
	printf("  shares a=%.1f b=%.1f c=%.1f (truth ~60/30/10 by iteration "
	       "count), in leaves %.1f%%, caller found %.1f%%\n", a, b, c,
	       100.0 * leaves / total, 100.0 * chain / leaves);
	/* The three loops differ slightly in cost per iteration, so allow
	 * more than the 3 points a calibrated workload gets. */
	ASSERT(a > 52 && a < 68);
	ASSERT(b > 22 && b < 38);
	ASSERT(c > 5 && c < 16);
	ASSERT(leaves * 10 >= total * 9);
	/* Unwinding starts from the interrupted context: the leaf's caller
	 * (mid_round) is found above it, not the handler. */
	ASSERT(chain * 100 >= leaves * 97);
}

/* ---- threads ---- */

static atomic_int go;
struct burner {
	pthread_t t;
	int ms;
	pid_t tid;
	int64_t cpu;
};

static void *burner_main(void *arg)
{
	struct burner *b = arg;
	b->tid = my_tid();
	while (!atomic_load(&go))
		sleep_ms(1);
	b->cpu = burn_ms(b->ms);
	return NULL;
}

TEST(agent_sampler_threads_before_and_after_arm)
{
	struct burner b[3] = { { .ms = 400 }, { .ms = 700 }, { .ms = 1000 } };
	/* b[0]: before init (no trampoline), b[1]: after init, before arm,
	 * b[2]: after arm (armed by the trampoline). */
	ASSERT_EQ(pthread_create(&b[0].t, NULL, burner_main, &b[0]), 0);
	init_or_die();
	collector_start();
	ASSERT_EQ(pthread_create(&b[1].t, NULL, burner_main, &b[1]), 0);
	sleep_ms(20);
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	ASSERT_EQ(pthread_create(&b[2].t, NULL, burner_main, &b[2]), 0);
	atomic_store(&go, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(b[i].t, NULL);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	oxa_sampler_disarm();
	collector_stop();
	int perf = st.source == OXA_SOURCE_PERF_TASK_CLOCK;
	double expect = perf ? 1000 : st.achieved_hz;
	for (int i = 0; i < 3; i++) {
		long n = count_tid(b[i].tid);
		double rate = n / ((double)b[i].cpu / 1e9);
		printf("  thread %d: %ld samples, %.0f ms CPU, %.0f/CPU-s\n", i,
		       n, b[i].cpu / 1e6, rate);
		ASSERT_MSG(rate > 0.75 * expect && rate < 1.25 * expect,
			   "thread %d rate %.0f vs %.0f", i, rate, expect);
	}
	/* The collector excluded itself and is never sampled. */
	ASSERT_EQ(count_tid(atomic_load(&coll_tid)), 0);
	/* Exited trampoline threads released their events. */
	ASSERT(st.threads_armed >= 1);
}

static void *block_and_burn(void *arg)
{
	struct burner *b = arg;
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, oxa__s.signo);
	pthread_sigmask(SIG_BLOCK, &s, NULL);
	b->tid = my_tid();
	while (!atomic_load(&go))
		sleep_ms(1);
	b->cpu = burn_ms(b->ms);
	sigset_t after;
	pthread_sigmask(SIG_BLOCK, NULL, &after);
	ASSERT(sigismember(&after, oxa__s.signo)); /* never changed by us */
	return NULL;
}

TEST(agent_sampler_thread_blocking_signal_left_alone)
{
	init_or_die();
	collector_start();
	struct burner b = { .ms = 500 };
	ASSERT_EQ(pthread_create(&b.t, NULL, block_and_burn, &b), 0);
	while (!b.tid)
		sleep_ms(1);
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	atomic_store(&go, 1);
	burn_ms(300);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	pthread_join(b.t, NULL);
	oxa_sampler_disarm();
	collector_stop();
	ASSERT(st.threads_blocked >= 1);
	ASSERT_EQ(count_tid(b.tid), 0);
	ASSERT(count_tid(my_tid()) > 100);
}

/* ---- pause ---- */

static int count_perf_fds(void)
{
	char path[64], link[128];
	int n = 0;
	/* Every fd: the agent keeps its own above a high floor (fds.h). */
	for (int fd = 0; fd < getdtablesize(); fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ssize_t l = readlink(path, link, sizeof(link) - 1);
		if (l > 0) {
			link[l] = 0;
			n += strstr(link, "perf_event") != NULL;
		}
	}
	return n;
}

static int count_posix_timers(void)
{
	FILE *f = fopen("/proc/self/timers", "r");
	if (!f)
		return -1;
	char line[256];
	int n = 0;
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, "ID:", 3) == 0;
	fclose(f);
	return n;
}

static void pause_case(int mode)
{
	init_or_die();
	collector_start();
	ASSERT_EQ(oxa_sampler_arm(mode, 1000, 32), 0);
	ASSERT(oxa_sampler_armed());
	burn_ms(300);
	ASSERT(count_perf_fds() + count_posix_timers() > 0);
	ASSERT_EQ(oxa_sampler_disarm(), 0);
	ASSERT(!oxa_sampler_armed());
	struct oxa_sampler_stats st0, st1;
	oxa_sampler_stats(&st0);
	ASSERT_EQ(st0.source, OXA_SOURCE_NONE);
	ASSERT(st0.taken > 100);
	ASSERT(st0.achieved_hz > 100);
	/* Paused: no fd, no timer, no signal. */
	ASSERT_EQ(count_perf_fds(), 0);
	ASSERT_EQ(count_posix_timers(), 0);
	burn_ms(300);
	oxa_sampler_stats(&st1);
	ASSERT_EQ(st1.taken, st0.taken);
	ASSERT(st1.stale <= 2);
	collector_stop();
}

TEST(agent_sampler_pause_cpu_arms_nothing)
{
	pause_case(OXP_MODE_CPU);
}

TEST(agent_sampler_pause_wall_arms_nothing)
{
	pause_case(OXP_MODE_WALL);
}

/* ---- no malloc in the handler ---- */

static void *volatile hook_sink;

static void hook_that_allocates(void)
{
	hook_sink = malloc(16); /* volatile: the pair is not optimised out */
	free(hook_sink);
}

static void *short_worker(void *arg)
{
	(void)arg;
	burn_ms(20);
	return NULL;
}

TEST(agent_sampler_no_malloc_in_handler)
{
	/* The watch works: a handler that allocates is caught. */
	init_or_die();
	collector_start();
	oxa__test_hook = hook_that_allocates;
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 64), 0);
	burn_ms(100);
	oxa_sampler_disarm();
	oxa__test_hook = NULL;
	ASSERT(atomic_load(&bad_allocs) > 0);
	atomic_store(&bad_allocs, 0);
	/* The real handler does not allocate: cpu and wall, threads coming
	 * and going (first samples of new threads included). */
	for (int mode = 0; mode < 2; mode++) {
		ASSERT_EQ(oxa_sampler_arm(mode, 1000, 128), 0);
		for (int i = 0; i < 10; i++) {
			pthread_t t;
			ASSERT_EQ(pthread_create(&t, NULL, short_worker, NULL),
				  0);
			burn_ms(30);
			pthread_join(t, NULL);
		}
		oxa_sampler_disarm();
	}
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	collector_stop();
	ASSERT(st.taken > 300);
	ASSERT_EQ(atomic_load(&bad_allocs), 0);
}

/* ---- restartable system calls ---- */

static int pipe_fds[2];
static char sock_path[108];

static void *late_writer(void *arg)
{
	(void)arg;
	sleep_ms(300);
	ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
	return NULL;
}

static void *late_connector(void *arg)
{
	(void)arg;
	sleep_ms(300);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, sock_path);
	ASSERT_EQ(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	close(s);
	return NULL;
}

TEST(agent_sampler_restartable_syscalls_no_eintr)
{
	init_or_die();
	collector_start();
	/* Wall mode is the one that interrupts blocked threads. */
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_WALL, 1000, 32), 0);
	pthread_t t;
	char c;

	ASSERT_EQ(pipe(pipe_fds), 0);
	ASSERT_EQ(pthread_create(&t, NULL, late_writer, NULL), 0);
	ssize_t n = read(pipe_fds[0], &c, 1);
	ASSERT_MSG(n == 1, "read: %zd errno %d", n, errno);
	pthread_join(t, NULL);

	pid_t child = fork();
	ASSERT(child >= 0);
	if (child == 0) {
		sleep_ms(300);
		_exit(7);
	}
	int status;
	pid_t w = waitpid(child, &status, 0);
	ASSERT_MSG(w == child, "waitpid: %d errno %d", (int)w, errno);
	ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 7);

	snprintf(sock_path, sizeof(sock_path), "/tmp/oxt-accept-%d",
		 (int)getpid());
	unlink(sock_path);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, sock_path);
	ASSERT_EQ(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(listen(ls, 1), 0);
	ASSERT_EQ(pthread_create(&t, NULL, late_connector, NULL), 0);
	int cs = accept(ls, NULL, NULL);
	ASSERT_MSG(cs >= 0, "accept: errno %d", errno);
	close(cs);
	close(ls);
	unlink(sock_path);
	pthread_join(t, NULL);

	oxa_sampler_disarm();
	collector_stop();
	/* The calls were really interrupted: blocked samples of this thread
	 * over ~0.9 s of waiting at 1 kHz. */
	long blocked = 0;
	for (long i = 0; i < atomic_load(&nrec); i++)
		blocked += recs[i].tid == (uint32_t)my_tid() &&
			   recs[i].state == 1;
	printf("  %ld blocked samples of the waiting thread\n", blocked);
	ASSERT(blocked > 300);
}

static void *sleeper_main(void *arg)
{
	struct burner *b = arg;
	b->tid = my_tid();
	char c;
	ASSERT_EQ(read(pipe_fds[0], &c, 1), 1);
	return NULL;
}

TEST(agent_sampler_wall_state_running_vs_blocked)
{
	init_or_die();
	collector_start();
	ASSERT_EQ(pipe(pipe_fds), 0);
	struct burner s = { 0 };
	ASSERT_EQ(pthread_create(&s.t, NULL, sleeper_main, &s), 0);
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_WALL, 500, 32), 0);
	burn_ms(600);
	oxa_sampler_disarm();
	ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
	pthread_join(s.t, NULL);
	collector_stop();
	long run[2] = { 0 }, blk[2] = { 0 };
	for (long i = 0; i < atomic_load(&nrec); i++) {
		int who = recs[i].tid == (uint32_t)s.tid ? 1 :
			  recs[i].tid == (uint32_t)my_tid() ? 0 : -1;
		if (who < 0)
			continue;
		if (recs[i].state)
			blk[who]++;
		else
			run[who]++;
	}
	printf("  burner run %ld blocked %ld; sleeper run %ld blocked %ld\n",
	       run[0], blk[0], run[1], blk[1]);
	ASSERT(blk[1] > 100 && run[1] * 10 <= blk[1]);
	ASSERT(run[0] > 100 && blk[0] * 10 <= run[0]);
}

/* ---- signals the host owns ---- */

static atomic_int host_hits;

static void host_prof(int sig)
{
	(void)sig;
	atomic_fetch_add(&host_hits, 1);
}

TEST(agent_sampler_host_sigprof_handler_kept)
{
	struct sigaction sa = { .sa_handler = host_prof,
				.sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGPROF, &sa, NULL), 0);
	struct itimerval it = { { 0, 10000 }, { 0, 10000 } };
	ASSERT_EQ(setitimer(ITIMER_PROF, &it, NULL), 0);

	/* Asked for SIGPROF explicitly: refused, and why is given. */
	setenv("OXPROF_SIGNAL", "SIGPROF", 1);
	ASSERT_EQ(oxa_sampler_init(NULL), -EBUSY);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	ASSERT(strstr(st.why, "owned by the host") != NULL);
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), -EBUSY);
	unsetenv("OXPROF_SIGNAL");

	/* Left to choose, it takes another signal. */
	init_or_die();
	oxa_sampler_stats(&st);
	ASSERT(st.signo >= SIGRTMIN && st.signo <= SIGRTMAX);
	collector_start();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	atomic_store(&host_hits, 0);
	int64_t cpu = burn_ms(1000);
	oxa_sampler_disarm();
	collector_stop();
	oxa_sampler_stats(&st);
	struct sigaction cur;
	sigaction(SIGPROF, NULL, &cur);
	ASSERT(cur.sa_handler == host_prof);
	long ours = count_tid(my_tid());
	printf("  host SIGPROF hits %d over %.0f ms CPU; ours %ld on signal "
	       "%d; foreign %llu\n", atomic_load(&host_hits), cpu / 1e6, ours,
	       st.signo, (unsigned long long)st.foreign);
	ASSERT(atomic_load(&host_hits) > 40);
	ASSERT(ours > 200);
	ASSERT_EQ(st.foreign, 0);
}

TEST(agent_sampler_foreign_signal_follows_sig_ign)
{
	signal(SIGPROF, SIG_IGN);
	init_or_die();
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	ASSERT_EQ(st.signo, SIGPROF);
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	kill(getpid(), SIGPROF);
	union sigval v = { .sival_int = 3 };
	sigqueue(getpid(), SIGPROF, v);
	burn_ms(100);
	oxa_sampler_disarm();
	oxa_sampler_stats(&st);
	ASSERT_EQ(st.foreign, 2); /* forwarded, and ignored as the host asked */
}

TEST(agent_sampler_foreign_signal_follows_sig_dfl)
{
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		if (oxa_sampler_init(NULL) < 0 ||
		    oxa_sampler_arm(OXP_MODE_CPU, 1000, 32) < 0)
			_exit(3);
		burn_ms(50);
		kill(getpid(), oxa__s.signo); /* default action: terminate */
		burn_ms(200);
		_exit(0);
	}
	int status;
	ASSERT_EQ(waitpid(p, &status, 0), p);
	ASSERT_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGPROF,
		   "status 0x%x", status);
}

/* ---- churn ---- */

static atomic_int churn_stop;
static atomic_long dl_cycles, thr_cycles;

static void *dl_churner(void *arg)
{
	static const char *libs[] = { "libz.so.1", "libbz2.so.1.0",
				      "libexpat.so.1", "libffi.so.8",
				      "liblzma.so.5" };
	unsigned i = (unsigned)(uintptr_t)arg;
	while (!atomic_load(&churn_stop)) {
		void *h = dlopen(libs[i++ % 5], RTLD_NOW | RTLD_LOCAL);
		burn_ms(1);
		if (h)
			dlclose(h);
		atomic_fetch_add(&dl_cycles, 1);
	}
	return NULL;
}

static void *tiny_thread(void *arg)
{
	(void)arg;
	burn_ms(2);
	return NULL;
}

TEST_TIMEOUT(agent_sampler_dlopen_and_thread_churn_10khz, 30)
{
	init_or_die();
	collector_start();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 10000, 128), 0);
	pthread_t d[2];
	for (uintptr_t i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&d[i], NULL, dl_churner, (void *)i),
			  0);
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	while (now_ns(CLOCK_MONOTONIC) - t0 < 3000000000ll) {
		pthread_t t[4];
		for (int i = 0; i < 4; i++)
			ASSERT_EQ(pthread_create(&t[i], NULL, tiny_thread,
						 NULL), 0);
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		atomic_fetch_add(&thr_cycles, 4);
		if (atomic_load(&thr_cycles) % 200 == 0) /* re-arm mid-churn */
			ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 10000, 128), 0);
	}
	atomic_store(&churn_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(d[i], NULL);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	oxa_sampler_disarm();
	collector_stop();
	printf("  %ld dlopen cycles, %ld threads; taken %llu skipped %llu "
	       "dropped %llu stale %llu, registry %u\n",
	       atomic_load(&dl_cycles), atomic_load(&thr_cycles),
	       (unsigned long long)st.taken, (unsigned long long)st.skipped,
	       (unsigned long long)st.dropped, (unsigned long long)st.stale,
	       st.threads);
	ASSERT(atomic_load(&dl_cycles) > 50);
	ASSERT(atomic_load(&thr_cycles) > 200);
	ASSERT(st.taken > 1000);
	/* Exited threads gave their slots back (a few may await reaping). */
	ASSERT(st.threads < 64);
}

/* ---- fork and exec ---- */

TEST(agent_sampler_fork_child_samples_itself)
{
	init_or_die();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	burn_ms(100);
	pid_t parent_tid = my_tid();
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		oxa_sampler_atfork_child(); /* idempotent after our atfork */
		if (oxa_sampler_armed())
			_exit(10);
		struct oxa_sample s;
		while (oxa_sampler_pop(&s)) /* parent's samples are gone */
			_exit(11);
		if (oxa_sampler_arm(OXP_MODE_CPU, 1000, 32) < 0)
			_exit(12);
		burn_ms(400);
		oxa_sampler_disarm();
		long mine = 0, other = 0;
		while (oxa_sampler_pop(&s)) {
			if (s.tid == (uint32_t)getpid())
				mine++;
			else
				other++;
		}
		printf("  child %d: %ld own samples, %ld other\n",
		       (int)getpid(), mine, other);
		fflush(stdout);
		_exit(mine > 150 && other == 0 ? 0 : 13);
	}
	burn_ms(200); /* the parent keeps sampling meanwhile */
	int status;
	ASSERT_EQ(waitpid(p, &status, 0), p);
	ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "child status 0x%x", status);
	oxa_sampler_disarm();
	drain_all();
	ASSERT(count_tid(parent_tid) > 150);
	ASSERT_EQ(count_tid(p), 0);
}

static const char *const loop_cmd =
	"i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done";

/* A sampled process (a burner thread too) that execs a CPU loop. */
static void exec_case(int mode, unsigned hz, const char *source, int via)
{
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		if (source)
			setenv("OXPROF_SOURCE", source, 1);
		if (oxa_sampler_init(NULL) < 0 ||
		    oxa_sampler_arm(mode, hz, 64) < 0)
			_exit(3);
		pthread_t t;
		struct burner b = { .ms = 5000 };
		atomic_store(&go, 1);
		pthread_create(&t, NULL, burner_main, &b);
		burn_ms(150);
		if (via == 0) {
			execl("/bin/sh", "sh", "-c", loop_cmd, (char *)NULL);
			_exit(4);
		}
		int r = system(loop_cmd); /* posix_spawn: vfork child */
		_exit(WIFEXITED(r) ? WEXITSTATUS(r) : 5);
	}
	int status;
	ASSERT_EQ(waitpid(p, &status, 0), p);
	ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "mode %d hz %u via %d: status 0x%x", mode, hz, via, status);
}

TEST(agent_sampler_exec_cpu_loop_exits_zero)
{
	exec_case(OXP_MODE_CPU, 1000, NULL, 0);
	exec_case(OXP_MODE_CPU, 10000, NULL, 0);
	exec_case(OXP_MODE_CPU, 1000, "timer", 0);
	exec_case(OXP_MODE_WALL, 1000, NULL, 0);
	exec_case(OXP_MODE_CPU, 1000, NULL, 1);
	exec_case(OXP_MODE_WALL, 1000, NULL, 1);
}

TEST(agent_sampler_shutdown_restores_and_reinits)
{
	init_or_die();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	burn_ms(100);
	oxa_sampler_shutdown();
	struct sigaction cur;
	sigaction(SIGPROF, NULL, &cur);
	ASSERT(cur.sa_handler == SIG_DFL);
	ASSERT_EQ(count_perf_fds(), 0);
	burn_ms(100); /* a stale signal would kill us with SIG_DFL */
	init_or_die();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	burn_ms(200);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	ASSERT(st.taken > 50);
	oxa_sampler_shutdown();
}
