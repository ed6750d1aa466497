/*
 * threads.c - the thread registry: which threads exist, which are armed,
 * and how threads come and go.
 *
 * Coverage without help from the host:
 *  - threads alive at arm time come from /proc/self/task (and a rescan
 *    every second from oxa_sampler_tick catches threads started without our
 *    pthread_create, e.g. by raw clone);
 *  - threads started later pass through our pthread_create, whose
 *    trampoline registers (and arms, if sampling) the new thread before the
 *    user's routine runs, and sets a pthread key whose destructor releases
 *    the thread's event or timer on return, pthread_exit or cancellation;
 *  - threads that exit behind our back (raw clone, or started before we
 *    were loaded) are reaped by oxa_sampler_tick (tgkill(pid, tid, 0)).
 * A thread that blocks our signal is left alone: we never change a mask.
 *
 * Everything here runs under the control lock, in normal context.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host/fds.h"
#include "engine.h"

struct oxa__thread oxa__threads[OXA_MAX_THREADS];

static int slot_find(pid_t tid)
{
	unsigned hw = atomic_load(&oxa__s.hiwater);
	for (unsigned i = 0; i < hw; i++)
		if (atomic_load_explicit(&oxa__threads[i].tid,
					 memory_order_relaxed) == tid)
			return (int)i;
	return -1;
}

static int slot_new(pid_t tid)
{
	for (unsigned i = 0; i < OXA_MAX_THREADS; i++) {
		struct oxa__thread *th = &oxa__threads[i];
		if (atomic_load(&th->tid))
			continue;
		atomic_store(&th->fd, -1);
		atomic_store(&th->old_fd, -1);
		atomic_store(&th->cookie, 0);
		atomic_store(&th->armed, 0);
		th->has_timer = 0;
		th->excluded = th->blocked = th->trampoline = 0;
		atomic_store(&th->delivered, 0);
		atomic_store(&th->taken, 0);
		atomic_store(&th->skipped, 0);
		atomic_store(&th->unwind_fail, 0);
		atomic_store(&th->tid, tid);
		if (i >= atomic_load(&oxa__s.hiwater))
			atomic_store(&oxa__s.hiwater, i + 1);
		return (int)i;
	}
	return -ENOSPC;
}

static int slot_get(pid_t tid)
{
	int i = slot_find(tid);
	return i >= 0 ? i : slot_new(tid);
}

/* Does thread tid block signo?  Read from /proc, never by touching the
 * thread.  On any doubt (thread gone, unreadable) answer "blocked". */
static int thread_blocks(pid_t tid, int signo)
{
	if (tid == oxa__gettid()) {
		sigset_t cur;
		pthread_sigmask(SIG_BLOCK, NULL, &cur);
		return sigismember(&cur, signo) == 1;
	}
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	struct oxa_fdid id; /* the agent's range, closed only if ours (fds.h) */
	int fd = oxa_fd_open(path, O_RDONLY, 0, &id);
	if (fd < 0)
		return 1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	oxa_fd_close(fd, &id);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	const char *p = strstr(buf, "\nSigBlk:");
	if (!p)
		return 1;
	unsigned long long m = strtoull(p + 8, NULL, 16);
	return (int)((m >> (signo - 1)) & 1);
}

/* Arm one registered thread with the current source.  0 or -errno. */
int oxa__slot_arm(unsigned idx)
{
	struct oxa__thread *th = &oxa__threads[idx];
	if (th->excluded || atomic_load(&th->armed))
		return 0;
	th->blocked = thread_blocks(atomic_load(&th->tid), oxa__s.signo);
	if (th->blocked)
		return 0;
	return oxa__source_open(th, idx, oxa__s.source, oxa__s.hz);
}

/* Disarm one thread, folding its window into the achieved-rate totals. */
void oxa__slot_disarm(unsigned idx)
{
	struct oxa__thread *th = &oxa__threads[idx];
	int was = atomic_load(&th->armed);
	oxa__source_stop(th);
	oxa__source_close(th);
	if (!was)
		return;
	int64_t now = oxa__clock_ns(th->clock);
	if (now >= 0 && th->t0_ns >= 0 && now >= th->t0_ns) {
		double t = (double)(now - th->t0_ns) / 1e9;
		oxa__s.win_delivered += atomic_load(&th->delivered);
		oxa__s.win_seconds += t;
		if (!th->kernel && oxa__s.mode == OXP_MODE_CPU)
			oxa__s.win_seconds_u += t; /* user time only */
	}
}

/* Forget a thread: disarm it and free its slot for reuse. */
void oxa__slot_release(unsigned idx)
{
	struct oxa__thread *th = &oxa__threads[idx];
	oxa__slot_disarm(idx);
	oxa__s.ret_taken += atomic_load(&th->taken);
	oxa__s.ret_skipped += atomic_load(&th->skipped);
	oxa__s.ret_unwind_fail += atomic_load(&th->unwind_fail);
	atomic_store(&th->tid, 0);
}

/* Register every thread in /proc/self/task; arm them if sampling. */
int oxa__threads_scan(void)
{
	/* In the agent's range (fds.h): a host closing all fds meanwhile
	 * must not see its new file closed by our closedir. */
	struct oxa_fdid id;
	int fd = oxa_fd_open("/proc/self/task", O_RDONLY | O_DIRECTORY, 0, &id);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int r = fd < 0 ? fd : -errno;
		oxa_fd_close(fd, &id);
		return r;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		pid_t tid = (pid_t)atoi(e->d_name);
		if (tid <= 0)
			continue;
		int idx = slot_get(tid);
		if (idx < 0)
			continue; /* registry full: this thread goes unsampled */
		if (atomic_load(&oxa__s.armed))
			oxa__slot_arm((unsigned)idx);
	}
	closedir(d);
	return 0;
}

/* Release the slots of threads that no longer exist. */
void oxa__threads_reap(void)
{
	unsigned hw = atomic_load(&oxa__s.hiwater);
	for (unsigned i = 0; i < hw; i++) {
		pid_t tid = atomic_load(&oxa__threads[i].tid);
		if (tid && syscall(SYS_tgkill, oxa__s.pid, tid, 0) < 0 &&
		    errno == ESRCH)
			oxa__slot_release(i);
	}
}

/*
 * Fork child: the parent's threads do not exist here.  Their perf fds were
 * inherited (they still point at the parent's threads), so close them; the
 * POSIX timers were not inherited, so only forget them.
 */
void oxa__threads_forget(void)
{
	unsigned hw = atomic_load(&oxa__s.hiwater);
	for (unsigned i = 0; i < hw; i++) {
		struct oxa__thread *th = &oxa__threads[i];
		int fd = atomic_exchange(&th->fd, -1);
		if (fd >= 0)
			close(fd);
		atomic_store(&th->old_fd, -1);
		atomic_store(&th->armed, 0);
		atomic_store(&th->busy, 0);
		atomic_store(&th->cookie, 0);
		th->has_timer = 0;
		atomic_store(&th->tid, 0);
	}
	atomic_store(&oxa__s.hiwater, 0);
}

void oxa_sampler_exclude_self(void)
{
	oxa__tls.excluded = 1;
	pthread_mutex_lock(&oxa__s.lock);
	int idx = slot_get(oxa__gettid());
	if (idx >= 0) {
		oxa__threads[idx].excluded = 1;
		oxa__slot_disarm((unsigned)idx);
	}
	pthread_mutex_unlock(&oxa__s.lock);
}

/* Key destructor: runs on the exiting thread, whatever way it exits. */
static void thread_exit(void *v)
{
	unsigned idx = (unsigned)((uintptr_t)v - 1);
	pthread_mutex_lock(&oxa__s.lock);
	if (idx < OXA_MAX_THREADS &&
	    atomic_load(&oxa__threads[idx].tid) == oxa__gettid())
		oxa__slot_release(idx);
	pthread_mutex_unlock(&oxa__s.lock);
}

int oxa__threads_init(void)
{
	static int key_made;
	if (key_made)
		return 0;
	int r = pthread_key_create(&oxa__s.key, thread_exit);
	if (r)
		return -r;
	key_made = 1;
	return 0;
}

/*
 * Paused, a new thread costs nothing here: no lock, no libunwind cache, no
 * slot.  If an arm comes later, its /proc/self/task scan finds the thread
 * (it stored armed before scanning, and this thread read armed after it
 * was cloned, so one of the two sees the other) and the tick reaps it when
 * it is gone.
 */
static void thread_start(void)
{
	if (!__atomic_load_n(&oxa__s.inited, __ATOMIC_ACQUIRE) ||
	    !atomic_load(&oxa__s.armed))
		return;
	/* Build libunwind's per-thread trace cache here rather than in the
	 * first signal handler. */
	void *warm[4];
	unw_backtrace(warm, 4);
	pthread_mutex_lock(&oxa__s.lock);
	if (oxa__s.inited) {
		int idx = slot_get(oxa__gettid());
		if (idx >= 0) {
			oxa__threads[idx].trampoline = 1;
			pthread_setspecific(oxa__s.key,
					    (void *)(uintptr_t)(idx + 1));
			if (atomic_load(&oxa__s.armed))
				oxa__slot_arm((unsigned)idx);
		}
	}
	pthread_mutex_unlock(&oxa__s.lock);
}

struct tramp {
	void *(*fn)(void *);
	void *arg;
};

static void *trampoline(void *p)
{
	struct tramp t = *(struct tramp *)p;
	free(p);
	thread_start();
	return t.fn(t.arg);
}

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *,
			 void *(*)(void *), void *);

OXA_INTERPOSE int pthread_create(pthread_t *thr, const pthread_attr_t *attr,
				 void *(*fn)(void *), void *arg)
{
	static create_fn real;
	create_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);
	if (!f) {
		f = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
		if (!f)
			return EAGAIN;
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	if (!__atomic_load_n(&oxa__s.inited, __ATOMIC_ACQUIRE))
		return f(thr, attr, fn, arg);
	struct tramp *t = malloc(sizeof(*t));
	if (!t)
		return f(thr, attr, fn, arg);
	t->fn = fn;
	t->arg = arg;
	int r = f(thr, attr, trampoline, t);
	if (r)
		free(t);
	return r;
}
