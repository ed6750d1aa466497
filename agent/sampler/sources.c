/*
 * sources.c - what makes a thread's samples fire: a perf_event task-clock
 * event, a thread-CPU-clock POSIX timer, or a CLOCK_MONOTONIC POSIX timer,
 * each aimed at one thread.  Called under the control lock.
 *
 * perf task-clock: counts the thread's on-CPU time at hrtimer resolution
 * (so 10 kHz works on a CONFIG_HZ=250 kernel).  Each overflow sends a
 * signal to the owning thread (F_SETOWN_EX/F_OWNER_TID + F_SETSIG).
 *  - With a classic signal (SIGPROF, the default) the event runs freely:
 *    a second overflow while one signal is pending merges into it, and the
 *    kernel never falls back to SIGIO for a classic signal.  No ioctl per
 *    sample: it saved ~7 us of the ~31 us a sample costs here, and the
 *    event never stops counting, so the rate is the one asked for.
 *  - With a real-time signal the event has a refresh limit of one: each
 *    overflow disables it and the handler re-enables it with
 *    PERF_EVENT_IOC_REFRESH, so at most one signal is ever queued and a
 *    full real-time queue can never fall back to the SIGIO that would kill
 *    the host.
 *
 * Random phase: every source's first period is drawn uniformly from
 * (0, period], then the period is the one asked for.  A thread's clock
 * starts at zero, so with a full first period a thread that runs for less
 * than one period would never be sampled (20 000 threads of 0.1 ms each
 * went unseen at 1 kHz); with a random phase a thread running c seconds is
 * sampled c * hz times on average, however short c is.  perf: the event is
 * opened with the random period and the handler sets the real one at the
 * first overflow (PERF_EVENT_IOC_PERIOD, once per arm); timers: a random
 * it_value, the real it_interval.
 *
 * Timers: SIGEV_THREAD_ID aims the signal at the thread; the signal's
 * si_value carries a cookie (magic, slot generation, slot index) so the
 * handler can tell our signals, live or stale, from the host's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host/fds.h"
#include "sampler_int.h"

#ifndef sigev_notify_thread_id /* glibc < 2.37 */
#define sigev_notify_thread_id _sigev_un._tid
#endif

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

/* A first period in [1, period] ns, uniform. */
static uint64_t random_phase(uint64_t period)
{
	return 1 + rng_next() % period;
}

static void perf_attr(struct perf_event_attr *a, uint64_t period_ns)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->type = PERF_TYPE_SOFTWARE;
	a->config = PERF_COUNT_SW_TASK_CLOCK;
	a->sample_period = period_ns;
	a->disabled = 1;
	a->exclude_kernel = 1; /* paranoid=2 allows user-only events */
	a->exclude_hv = 1;
}

static int perf_open(pid_t tid, uint64_t period_ns)
{
	struct perf_event_attr a;
	perf_attr(&a, period_ns);
	int fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1,
			      PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : oxa_fd_raise(fd); /* out of the host's way (fds.h) */
}

/*
 * The source for a new arm: wall mode always uses monotonic timers; cpu
 * mode uses perf unless OXPROF_SOURCE=timer forces the fallback or the
 * kernel refuses a probe event on the calling thread (seccomp, paranoid 3,
 * no perf support).  The note in stats says which and why.
 */
int oxa__source_pick(int mode)
{
	oxa__s.note[0] = 0;
	if (mode == OXP_MODE_WALL)
		return OXA_SOURCE_WALL_TIMER;
	const char *env = secure_getenv("OXPROF_SOURCE");
	if (env && strcmp(env, "timer") == 0) {
		snprintf(oxa__s.note, sizeof(oxa__s.note),
			 "cpu-timer forced by OXPROF_SOURCE; tick-bound, "
			 "~CONFIG_HZ (250) Hz at most");
		return OXA_SOURCE_CPU_TIMER;
	}
	int fd = perf_open(0, 1000000);
	if (fd >= 0) {
		close(fd);
		return OXA_SOURCE_PERF_TASK_CLOCK;
	}
	snprintf(oxa__s.note, sizeof(oxa__s.note),
		 "perf_event_open refused (%s); cpu-timer: tick-bound, "
		 "~CONFIG_HZ (250) Hz at most", strerror(-fd));
	return OXA_SOURCE_CPU_TIMER;
}

static int perf_arm(struct oxa__thread *th, pid_t tid, unsigned hz)
{
	uint64_t period = 1000000000ull / hz;
	int fd = perf_open(tid, random_phase(period));
	if (fd < 0)
		return fd;
	struct f_owner_ex own = { .type = F_OWNER_TID, .pid = tid };
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETOWN_EX, &own) < 0 ||
	    fcntl(fd, F_SETSIG, oxa__s.signo) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_ASYNC) < 0) {
		int r = -errno;
		close(fd);
		return r;
	}
	/* Publish the fd before the event can fire. */
	int freerun = oxa__s.signo < SIGRTMIN;
	atomic_store(&th->freerun, freerun);
	atomic_store(&th->period, period);
	atomic_store(&th->phase, 1);
	atomic_store(&th->fd, fd);
	atomic_store(&th->armed, 1);
	if (ioctl(fd, freerun ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_REFRESH,
		  freerun ? 0 : 1) < 0) {
		int r = -errno;
		atomic_store(&th->armed, 0);
		atomic_store(&th->fd, -1);
		close(fd);
		return r;
	}
	return 0;
}

static int timer_arm(struct oxa__thread *th, unsigned idx, pid_t tid,
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
	/* Random phase (see the top); it also keeps threads' wall timers
	 * from firing in lock-step. */
	long first = (long)random_phase((uint64_t)period);
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

/*
 * Arm slot idx with the given source.  A thread whose perf event cannot be
 * opened (fd limit, say) falls back to a CPU timer rather than going
 * unsampled.  0 or -errno (e.g. -ESRCH when the thread is gone).
 */
int oxa__source_open(struct oxa__thread *th, unsigned idx, int source,
		     unsigned hz)
{
	pid_t tid = atomic_load(&th->tid);
	th->gen++;
	atomic_store(&th->delivered, 0);
	int r = -EINVAL;
	/* The handler reads source once it sees armed, so set it first. */
	th->source = source;
	if (source == OXA_SOURCE_PERF_TASK_CLOCK) {
		r = perf_arm(th, tid, hz);
		if (r == -ESRCH)
			return r;
		if (r < 0)
			th->source = source = OXA_SOURCE_CPU_TIMER;
	}
	if (source == OXA_SOURCE_CPU_TIMER)
		r = timer_arm(th, idx, tid, oxa__thread_cpu_clock(tid), hz);
	else if (source == OXA_SOURCE_WALL_TIMER)
		r = timer_arm(th, idx, tid, CLOCK_MONOTONIC, hz);
	if (r < 0)
		return r;
	th->clock = source == OXA_SOURCE_WALL_TIMER ?
			    CLOCK_MONOTONIC : oxa__thread_cpu_clock(tid);
	th->t0_ns = oxa__clock_ns(th->clock);
	return 0;
}

/* Stop new signals: the handler sees armed == 0 from here on. */
void oxa__source_stop(struct oxa__thread *th)
{
	atomic_store(&th->armed, 0);
	int fd = atomic_load(&th->fd);
	if (fd >= 0 && oxa_fd_perf_id(fd)) /* never an ioctl on a host's fd */
		ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
	if (th->has_timer) {
		struct itimerspec z;
		memset(&z, 0, sizeof(z));
		timer_settime(th->timer, 0, &z, NULL);
	}
}

/*
 * Release what oxa__source_stop stopped, once no handler uses the slot.
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
	int fd = atomic_exchange(&th->fd, -1);
	if (fd >= 0) {
		atomic_store(&th->old_fd, fd);
		if (oxa_fd_perf_id(fd)) /* the host may have reused it */
			close(fd);
	}
	if (th->has_timer) {
		timer_delete(th->timer);
		th->has_timer = 0;
	}
	atomic_store(&th->cookie, 0);
}
