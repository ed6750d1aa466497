/*
 * sampler-kit.c - the shared parts of test-agent-sampler* (sampler-kit.h),
 * and the allocation watch: malloc and friends are interposed for the
 * whole binary, so anything allocating inside the handler is counted.
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
#include "sampler-kit.h"
#include "task.h"

/* ---- allocation watch: fail if anything allocates inside our handler */

atomic_int bad_allocs;

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

int64_t now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Burn this thread's CPU for about ms milliseconds of its own CPU time;
 * returns the CPU nanoseconds actually used. */
int64_t burn_ms(int ms)
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

void sleep_ms(int ms)
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

pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* ---- collector: the "drain thread" of these tests ---- */

struct rec recs[MAXREC];
atomic_long nrec;
static atomic_int coll_stop;
static pthread_t coll_thread;
atomic_int coll_tid;

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

void drain_all(void)
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

void collector_start(void)
{
	ASSERT_EQ(pthread_create(&coll_thread, NULL, collector, NULL), 0);
	while (!atomic_load(&coll_tid))
		sleep_ms(1);
}

void collector_stop(void)
{
	atomic_store(&coll_stop, 1);
	pthread_join(coll_thread, NULL);
}

long count_tid(pid_t tid)
{
	long n = 0, total = atomic_load(&nrec);
	for (long i = 0; i < total; i++)
		n += recs[i].tid == (uint32_t)tid;
	return n;
}

void init_or_die(void)
{
	int r = oxa_sampler_init(NULL);
	if (r < 0) {
		struct oxa_sampler_stats st;
		oxa_sampler_stats(&st);
		OXT_FAIL("oxa_sampler_init: %d (%s)", r, st.why);
	}
}

/* ---- threads that burn on a signal ---- */

atomic_int go;

void *burner_main(void *arg)
{
	struct burner *b = arg;
	b->tid = my_tid();
	while (!atomic_load(&go))
		sleep_ms(1);
	b->cpu = burn_ms(b->ms);
	return NULL;
}

/* ---- what the sampler holds ---- */

int count_perf_fds(void)
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

int count_posix_timers(void)
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
