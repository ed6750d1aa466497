/*
 * engine-timer.c - the POSIX timer engines: a timer on the thread's CPU
 * clock (cpu mode's fallback: tick-bound, ~CONFIG_HZ Hz at most) and one
 * on CLOCK_MONOTONIC (wall mode).  They differ only in the clock.
 *
 * SIGEV_THREAD_ID aims the signal at the thread; the signal's si_value
 * carries a cookie (magic, slot generation, slot index) so the handler can
 * tell our signals, live or stale, from the host's.  Random phase
 * (engine.c): a random it_value, the real it_interval; it also keeps
 * threads' wall timers from firing in lock-step.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "engine.h"

#ifndef sigev_notify_thread_id /* glibc < 2.37 */
#define sigev_notify_thread_id _sigev_un._tid
#endif

static int timer_start(struct oxa__thread *th, unsigned idx, pid_t tid,
		       clockid_t clock, unsigned hz)
{
	uint64_t cookie = (uint64_t)OXA_TIMER_MAGIC << 32 |
			  (uint64_t)th->gen << 16 | idx;
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = oxa__s.signo;
	sev.sigev_notify_thread_id = tid;
	sev.sigev_value.sival_ptr = (void *)(uintptr_t)cookie;
	timer_t t;
	if (timer_create(clock, &sev, &t) < 0)
		return -errno;
	long period = 1000000000L / (long)hz;
	long first = (long)oxa__random_phase((uint64_t)period);
	struct itimerspec its = {
		.it_interval = { period / 1000000000L, period % 1000000000L },
		.it_value = { first / 1000000000L, first % 1000000000L },
	};
	atomic_store(&th->cookie, cookie);
	th->timer = t;
	th->has_timer = 1;
	atomic_store(&th->armed, 1);
	if (timer_settime(t, 0, &its, NULL) < 0) {
		int r = -errno;
		atomic_store(&th->armed, 0);
		atomic_store(&th->cookie, 0);
		timer_delete(t);
		th->has_timer = 0;
		return r;
	}
	return 0;
}

static int cpu_start(struct oxa__thread *th, unsigned idx, pid_t tid, unsigned hz)
{
	return timer_start(th, idx, tid, oxa__thread_cpu_clock(tid), hz);
}

static int wall_start(struct oxa__thread *th, unsigned idx, pid_t tid, unsigned hz)
{
	return timer_start(th, idx, tid, CLOCK_MONOTONIC, hz);
}

static clockid_t monotonic(pid_t tid)
{
	(void)tid;
	return CLOCK_MONOTONIC;
}

static void timer_stop(struct oxa__thread *th)
{
	if (th->has_timer) {
		struct itimerspec z;
		memset(&z, 0, sizeof(z));
		timer_settime(th->timer, 0, &z, NULL);
	}
}

static void timer_resume(struct oxa__thread *th)
{
	if (th->has_timer && oxa__s.hz) {
		long period = 1000000000L / (long)oxa__s.hz;
		struct itimerspec its = {
			.it_interval = { period / 1000000000L, period % 1000000000L },
			.it_value = { period / 1000000000L, period % 1000000000L },
		};
		timer_settime(th->timer, 0, &its, NULL);
	}
}

static void timer_end(struct oxa__thread *th)
{
	if (th->has_timer) {
		timer_delete(th->timer);
		th->has_timer = 0;
	}
}

const struct oxa__engine oxa__engine_cpu_timer = {
	.source = OXA_SOURCE_CPU_TIMER,
	.thread_start = cpu_start,
	.thread_stop = timer_stop,
	.thread_resume = timer_resume,
	.thread_end = timer_end,
	.clock = oxa__thread_cpu_clock,
};

const struct oxa__engine oxa__engine_wall_timer = {
	.source = OXA_SOURCE_WALL_TIMER,
	.thread_start = wall_start,
	.thread_stop = timer_stop,
	.thread_end = timer_end,
	.clock = monotonic,
};
