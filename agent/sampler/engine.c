/*
 * engine.c - choosing an engine and driving a thread's through the
 * interface of engine.h.  Called under the control lock.
 *
 * Random phase: every engine's first period is drawn uniformly from
 * (0, period], then the period is the one asked for.  A thread's clock
 * starts at zero, so with a full first period a thread that runs for less
 * than one period would never be sampled (20 000 threads of 0.1 ms each
 * went unseen at 1 kHz); with a random phase a thread running c seconds is
 * sampled c * hz times on average, however short c is.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"

/* Every engine, in no order; a slot holds the resources of at most one. */
static const struct oxa__engine *const engines[] = {
	&oxa__engine_perf,
	&oxa__engine_cpu_timer,
	&oxa__engine_wall_timer,
};
#define NENGINES (sizeof(engines) / sizeof(engines[0]))

const struct oxa__engine *oxa__engine_of(int source)
{
	for (size_t i = 0; i < NENGINES; i++)
		if (engines[i]->source == source)
			return engines[i];
	return NULL;
}

/* The kernel's MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED):
 * (~tid << 3) | CPUCLOCK_PERTHREAD_MASK (4) | CPUCLOCK_SCHED (2). */
clockid_t oxa__thread_cpu_clock(pid_t tid)
{
	return (clockid_t)((~(unsigned)tid << 3) | 6u);
}

int64_t oxa__clock_ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) < 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* splitmix64; only called under the control lock. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
	if (!rng_state) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		rng_state = ((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull) ^
			    ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid();
	}
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t oxa__random_phase(uint64_t period)
{
	return 1 + rng_next() % period;
}

/* OXPROF_KERNEL: "0" user time only, "1" system time always, anything
 * else (or unset) auto. */
static int kernel_opt(void)
{
	const char *v = secure_getenv("OXPROF_KERNEL");
	if (v && strcmp(v, "0") == 0)
		return OXA_KERNEL_OFF;
	if (v && strcmp(v, "1") == 0)
		return OXA_KERNEL_ON;
	return OXA_KERNEL_AUTO;
}

/* The highest rate at which the cpu-timer is picked for its system time
 * in auto: it is tick-bound (CONFIG_HZ is commonly 250), and above that
 * perf's full rate of user time is the better trade. */
#define OXA_TIMER_AUTO_HZ 250u
/* The highest rate at which auto has perf count system time: signals
 * taken inside system calls cost a kernel-heavy host more (threads made
 * and joined in a loop ran at half speed at 10 kHz, unchanged at 1 kHz). */
#define OXA_PERF_KERNEL_AUTO_HZ 1000u

/*
 * The source for a new arm: wall mode always uses monotonic timers.  cpu
 * mode wants the CPU covered, system time included (OXPROF_KERNEL, see
 * enum oxa_kernel_opt): perf counting system time where the kernel allows
 * it (perf_event_paranoid <= 1, or CAP_PERFMON), else the cpu-timer (a
 * thread CPU clock counts system time; its signal arrives on the way back
 * to user space), unless the rate asked for is above what the timer can
 * give in auto; then perf of user time only.  Above 1 kHz auto samples
 * user time only with perf too (OXA_PERF_KERNEL_AUTO_HZ).  OXPROF_SOURCE=timer forces
 * the timer.  The note in stats says which and why.
 */
int oxa__source_pick(int mode)
{
	oxa__s.note[0] = 0;
	oxa__s.perf_kernel = 0;
	oxa__s.kernel_opt = kernel_opt();
	if (mode == OXP_MODE_WALL)
		return OXA_SOURCE_WALL_TIMER;
	const char *env = secure_getenv("OXPROF_SOURCE");
	if (env && strcmp(env, "timer") == 0) {
		snprintf(oxa__s.note, sizeof(oxa__s.note),
			 "cpu-timer forced by OXPROF_SOURCE; tick-bound, "
			 "~CONFIG_HZ (250) Hz at most");
		return OXA_SOURCE_CPU_TIMER;
	}
	int opt = oxa__s.kernel_opt;
	if ((opt == OXA_KERNEL_ON ||
	     (opt == OXA_KERNEL_AUTO && oxa__s.hz <= OXA_PERF_KERNEL_AUTO_HZ)) &&
	    oxa__perf_probe(1, NULL, 0) == 0) {
		oxa__s.perf_kernel = 1;
		return OXA_SOURCE_PERF_TASK_CLOCK;
	}
	if (opt == OXA_KERNEL_ON ||
	    (opt == OXA_KERNEL_AUTO && oxa__s.hz <= OXA_TIMER_AUTO_HZ)) {
		snprintf(oxa__s.note, sizeof(oxa__s.note), "cpu-timer for "
			 "system time: perf may not count it here");
		return OXA_SOURCE_CPU_TIMER;
	}
	if (oxa__engine_perf.check(oxa__s.note, sizeof(oxa__s.note)) == 0) {
		if (opt == OXA_KERNEL_AUTO)
			snprintf(oxa__s.note, sizeof(oxa__s.note), "user time "
				 "only: %u Hz is above auto's limit", oxa__s.hz);
		return OXA_SOURCE_PERF_TASK_CLOCK;
	}
	return OXA_SOURCE_CPU_TIMER;
}

/*
 * Arm slot idx with the given source.  A thread whose perf event cannot be
 * opened (fd limit, say) falls back to a CPU timer rather than going
 * unsampled.  0 or -errno (e.g. -ESRCH when the thread is gone).
 */
int oxa__source_open(struct oxa__thread *th, unsigned idx, int source,
		     unsigned hz)
{
	pid_t tid = atomic_load(&th->tid);
	const struct oxa__engine *e = oxa__engine_of(source);
	th->gen++;
	atomic_store(&th->delivered, 0);
	/* The handler reads source once it sees armed, so set it first. */
	th->source = source;
	if (!e)
		return -EINVAL;
	int r = e->thread_start(th, idx, tid, hz);
	if (r < 0 && r != -ESRCH && e == &oxa__engine_perf) {
		e = &oxa__engine_cpu_timer;
		th->source = e->source;
		r = e->thread_start(th, idx, tid, hz);
	}
	if (r < 0)
		return r;
	th->kernel = e->source == OXA_SOURCE_CPU_TIMER ||
		     (e->source == OXA_SOURCE_PERF_TASK_CLOCK && oxa__s.perf_kernel);
	th->clock = e->clock(tid);
	th->t0_ns = oxa__clock_ns(th->clock);
	return 0;
}

/* Every engine's teardown, once each (the two timers share theirs): each
 * is a no-op on a slot without its own resources. */
static void each_teardown(struct oxa__thread *th, int end)
{
	for (size_t i = 0; i < NENGINES; i++) {
		void (*f)(struct oxa__thread *) = end ? engines[i]->thread_end
						      : engines[i]->thread_stop;
		size_t j = 0;
		while (j < i && (end ? engines[j]->thread_end : engines[j]->thread_stop) != f)
			j++;
		if (j == i && f)
			f(th);
	}
}

void oxa__source_stop(struct oxa__thread *th)
{
	atomic_store(&th->armed, 0);
	each_teardown(th, 0);
}

/*
 * A handler runs for microseconds; the bound only protects us against a
 * thread stopped inside one (ptrace), in which case we close anyway.
 */
void oxa__source_close(struct oxa__thread *th)
{
	for (int i = 0; atomic_load(&th->busy) && i < 20000; i++) {
		if (i < 100)
			sched_yield();
		else
			usleep(100);
	}
	each_teardown(th, 1);
	atomic_store(&th->cookie, 0);
}
