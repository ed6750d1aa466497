/*
 * engine-perf.c - the perf_event task-clock engine (cpu mode's first
 * choice): counts the thread's on-CPU time at hrtimer resolution (so
 * 10 kHz works on a CONFIG_HZ=250 kernel).  Each overflow sends a signal
 * to the owning thread (F_SETOWN_EX/F_OWNER_TID + F_SETSIG).
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
 * Random phase (engine.c): the event is opened with the random period and
 * the handler sets the real one at the first overflow
 * (PERF_EVENT_IOC_PERIOD, once per arm).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"
#include "host/fds.h"

static void perf_attr(struct perf_event_attr *a, uint64_t period_ns, int kernel)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->type = PERF_TYPE_SOFTWARE;
	a->config = PERF_COUNT_SW_TASK_CLOCK;
	a->sample_period = period_ns;
	a->disabled = 1;
	/* paranoid 2 allows user-only events; counting system time needs
	 * paranoid <= 1 or CAP_PERFMON.  Either way the signal arrives in
	 * user space: after a system call, on its way back. */
	a->exclude_kernel = !kernel;
	a->exclude_hv = 1;
}

static int perf_open(pid_t tid, uint64_t period_ns, int kernel)
{
	struct perf_event_attr a;
	perf_attr(&a, period_ns, kernel);
	int fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1,
			      PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : oxa_fd_raise(fd); /* out of the host's way (fds.h) */
}

/* A probe event on the calling thread: seccomp, paranoid 3 or a kernel
 * without perf refuse it. */
int oxa__perf_probe(int kernel, char *note, size_t len)
{
	int fd = perf_open(0, 1000000, kernel);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (note)
		snprintf(note, len, "perf_event_open refused (%s); cpu-timer: "
			 "tick-bound, ~CONFIG_HZ (250) Hz at most", strerror(-fd));
	return fd;
}

static int perf_check(char *note, size_t len)
{
	return oxa__perf_probe(0, note, len);
}

static int perf_start(struct oxa__thread *th, unsigned idx, pid_t tid, unsigned hz)
{
	(void)idx;
	uint64_t period = 1000000000ull / hz;
	int fd = perf_open(tid, oxa__random_phase(period), oxa__s.perf_kernel);
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

static void perf_stop(struct oxa__thread *th)
{
	int fd = atomic_load(&th->fd);
	if (fd >= 0 && oxa_fd_perf_id(fd)) /* never an ioctl on a host's fd */
		ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
}

static void perf_resume(struct oxa__thread *th)
{
	int fd = atomic_load(&th->fd);
	if (fd >= 0 && oxa_fd_perf_id(fd))
		ioctl(fd, atomic_load(&th->freerun) ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_REFRESH,
		      atomic_load(&th->freerun) ? 0 : 1);
}

static void perf_end(struct oxa__thread *th)
{
	int fd = atomic_exchange(&th->fd, -1);
	if (fd >= 0) {
		atomic_store(&th->old_fd, fd);
		if (oxa_fd_perf_id(fd)) /* the host may have reused it */
			close(fd);
	}
}

/* In the handler. */
static void perf_signalled(struct oxa__thread *th)
{
	int fd = atomic_load_explicit(&th->fd, memory_order_relaxed);
	if (fd < 0)
		return;
	/* The random first period is over: the real one from now on. */
	if (atomic_load_explicit(&th->phase, memory_order_relaxed)) {
		atomic_store_explicit(&th->phase, 0, memory_order_relaxed);
		uint64_t p = atomic_load_explicit(&th->period,
						  memory_order_relaxed);
		ioctl(fd, PERF_EVENT_IOC_PERIOD, &p);
	}
	/* A real-time signal's event is re-enabled last, so at most one of
	 * its signals is ever queued (see the top). */
	if (!atomic_load_explicit(&th->freerun, memory_order_relaxed))
		ioctl(fd, PERF_EVENT_IOC_REFRESH, 1);
}

const struct oxa__engine oxa__engine_perf = {
	.source = OXA_SOURCE_PERF_TASK_CLOCK,
	.check = perf_check,
	.thread_start = perf_start,
	.thread_stop = perf_stop,
	.thread_resume = perf_resume,
	.thread_end = perf_end,
	.signalled = perf_signalled,
	.clock = oxa__thread_cpu_clock,
};
