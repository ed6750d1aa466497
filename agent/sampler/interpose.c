/*
 * interpose.c - dlopen, dlclose and fork, wrapped so the signal handler
 * knows when this thread is inside them.
 *
 * The classic way a profiler's handler deadlocks or crashes is to unwind
 * while the interrupted thread is changing the loader's lists (libunwind
 * walks them with dl_iterate_phdr) or is in the middle of fork.  Each
 * wrapper bumps a thread-local counter around the real call; the handler
 * skips (and counts) samples while it is non-zero.  The counters are
 * initial-exec TLS: no allocation, readable from the handler.
 *
 * Caveat: glibc picks the library search path of the *calling* object for
 * a dlopen (its DT_RUNPATH), and the caller is now liboxprof.  A library
 * that dlopens a plugin by bare name, relying on its own RUNPATH, will not
 * find it while the agent is loaded.  Absolute paths and the usual search
 * (LD_LIBRARY_PATH, ld.so.cache, the executable's RPATH) are unaffected.
 *
 * sigaction, signal, bsd_signal, ssignal, sysv_signal, __sysv_signal and
 * sigset are wrapped for the one signal the agent samples with, so a host
 * that takes that signal after the agent started (gperftools, a home-made
 * SIGPROF profiler) and the agent both keep working: our handler stays
 * installed, the host's action is kept aside (oxa__s.host) and reported
 * back to the host's queries, and the handler forwards to it every signal
 * that is not ours (the host's ITIMER_PROF, its timers, kill).  Every other
 * signal goes straight to libc.  setitimer needs no wrapper: its signals
 * are the kernel's (SI_KERNEL), never mistaken for ours.  A host that
 * calls rt_sigaction without libc is seen by oxa_sampler_tick, which
 * leaves it the signal and moves the agent to a free real-time one.
 */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "sampler_int.h"

static void *next(void **cache, const char *name)
{
	void *f = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
	if (!f) {
		f = dlsym(RTLD_NEXT, name);
		__atomic_store_n(cache, f, __ATOMIC_RELEASE);
	}
	return f;
}

OXA_INTERPOSE void *dlopen(const char *file, int mode)
{
	static void *real;
	void *(*f)(const char *, int) = (void *(*)(const char *, int))next(
		&real, "dlopen");
	if (!f)
		return NULL;
	oxa__tls.in_dl++;
	void *h = f(file, mode);
	oxa__tls.in_dl--;
	return h;
}

OXA_INTERPOSE int dlclose(void *handle)
{
	static void *real;
	int (*f)(void *) = (int (*)(void *))next(&real, "dlclose");
	if (!f)
		return -1;
	oxa__tls.in_dl++;
	int r = f(handle);
	oxa__tls.in_dl--;
	return r;
}

OXA_INTERPOSE pid_t fork(void)
{
	static void *real;
	pid_t (*f)(void) = (pid_t (*)(void))next(&real, "fork");
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	oxa__tls.in_fork++;
	pid_t p = f();
	int e = errno;
	oxa__tls.in_fork--;
	errno = e;
	return p;
}

/* glibc's own name for sigaction: calling it never comes back to us. */
extern int __sigaction(int sig, const struct sigaction *act,
		       struct sigaction *old);

int oxa__real_sigaction(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	return __sigaction(sig, act, old);
}

static void *real_signal, *real_bsd_signal, *real_ssignal,
	*real_sysv_signal, *real___sysv_signal, *real_sigset;

/* Resolve the real functions now, in normal context, so a host calling
 * signal() from a handler never makes us dlsym there. */
void oxa__interpose_init(void)
{
	next(&real_signal, "signal");
	next(&real_bsd_signal, "bsd_signal");
	next(&real_ssignal, "ssignal");
	next(&real_sysv_signal, "sysv_signal");
	next(&real___sysv_signal, "__sysv_signal");
	next(&real_sigset, "sigset");
}

static int is_handler(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) ? a->sa_sigaction != NULL :
		a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

void oxa__host_get(struct sigaction *out)
{
	for (;;) {
		unsigned s = atomic_load(&oxa__s.host_seq);
		if (s & 1)
			continue; /* another thread is writing: it is quick */
		memcpy(out, &oxa__s.host, sizeof(*out));
		if (atomic_load(&oxa__s.host_seq) == s)
			return;
	}
}

/* Writers block every signal while they hold the lock, so no handler
 * interrupting a writer can spin on its own thread's lock. */
static void host_lock(sigset_t *saved)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, saved);
	while (atomic_flag_test_and_set(&oxa__s.host_lock))
		;
}

static void host_unlock(const sigset_t *saved)
{
	atomic_flag_clear(&oxa__s.host_lock);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static void host_write(const struct sigaction *act)
{
	atomic_fetch_add(&oxa__s.host_seq, 1);
	memcpy(&oxa__s.host, act, sizeof(*act));
	atomic_fetch_add(&oxa__s.host_seq, 1);
	if (is_handler(act))
		atomic_store(&oxa__s.host_took, 1);
}

void oxa__host_set(const struct sigaction *act)
{
	sigset_t saved;
	host_lock(&saved);
	host_write(act);
	host_unlock(&saved);
}

void oxa__host_switch(int sig, const struct sigaction *act)
{
	sigset_t saved;
	host_lock(&saved);
	oxa__s.signo = sig;
	host_write(act);
	atomic_store(&oxa__s.host_took, 0);
	host_unlock(&saved);
}

/*
 * Our handler, with what the host asked of its own: its mask (its handler
 * runs inside ours and may rely on it) and its alternate stack.  SA_RESTART
 * always: our signals must never cut the host's system calls short.
 */
int oxa__install(int sig, const struct sigaction *host)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = oxa__handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (host && is_handler(host)) {
		sa.sa_mask = host->sa_mask;
		sa.sa_flags |= host->sa_flags & SA_ONSTACK;
	}
	return oxa__real_sigaction(sig, &sa, NULL) < 0 ? -errno : 0;
}

/* The host's sigaction on our signal: 1 done (virtually), 0 not ours. */
static int host_sigaction(int sig, const struct sigaction *act,
			  struct sigaction *old)
{
	if (sig <= 0 || !__atomic_load_n(&oxa__s.inited, __ATOMIC_ACQUIRE) ||
	    sig != oxa__s.signo)
		return 0;
	sigset_t saved;
	host_lock(&saved);
	/* Shutdown may have given the signal back meanwhile. */
	int ours = __atomic_load_n(&oxa__s.inited, __ATOMIC_ACQUIRE) &&
		   sig == oxa__s.signo;
	if (ours) {
		struct sigaction prev;
		memcpy(&prev, &oxa__s.host, sizeof(prev));
		if (act) {
			host_write(act);
			oxa__install(sig, act);
		}
		if (old)
			*old = prev;
	}
	host_unlock(&saved);
	return ours;
}

OXA_INTERPOSE int sigaction(int sig, const struct sigaction *act,
			    struct sigaction *old)
{
	if (host_sigaction(sig, act, old))
		return 0;
	return __sigaction(sig, act, old);
}

static sighandler_t handler_of(const struct sigaction *a)
{
	if (!(a->sa_flags & SA_SIGINFO))
		return a->sa_handler;
	/* A three-argument handler seen through signal(): the same address,
	 * as libc returns it. */
	sighandler_t h;
	memcpy(&h, &a->sa_sigaction, sizeof(h));
	return h;
}

/* signal() and friends on our signal, with glibc's semantics: BSD (keep
 * the handler, restart calls, block the signal in its handler) or System V
 * (one-shot, not blocked). */
static int host_signal(int sig, sighandler_t h, int sysv, sighandler_t *ret)
{
	if (sig <= 0 || sig != oxa__s.signo ||
	    !__atomic_load_n(&oxa__s.inited, __ATOMIC_ACQUIRE))
		return 0;
	if (h == SIG_ERR) {
		errno = EINVAL;
		*ret = SIG_ERR;
		return 1;
	}
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = h;
	sigemptyset(&sa.sa_mask);
	if (sysv) {
		sa.sa_flags = SA_RESETHAND | SA_NODEFER;
	} else {
		sigaddset(&sa.sa_mask, sig);
		sa.sa_flags = SA_RESTART;
	}
	if (!host_sigaction(sig, &sa, &old))
		return 0;
	*ret = handler_of(&old);
	return 1;
}

typedef sighandler_t (*signal_fn)(int, sighandler_t);

/* Not every libc header declares these (bsd_signal left POSIX). */
sighandler_t bsd_signal(int sig, sighandler_t h);
sighandler_t ssignal(int sig, sighandler_t h);
sighandler_t sysv_signal(int sig, sighandler_t h);
sighandler_t __sysv_signal(int sig, sighandler_t h);

#define SIGNAL_WRAPPER(name, sysv)                                       \
	OXA_INTERPOSE sighandler_t name(int sig, sighandler_t h)         \
	{                                                                \
		sighandler_t r;                                          \
		if (host_signal(sig, h, sysv, &r))                       \
			return r;                                        \
		signal_fn f = (signal_fn)next(&real_##name, #name);      \
		if (!f) {                                                \
			errno = ENOSYS;                                  \
			return SIG_ERR;                                  \
		}                                                        \
		return f(sig, h);                                        \
	}

SIGNAL_WRAPPER(signal, 0)
SIGNAL_WRAPPER(bsd_signal, 0)
SIGNAL_WRAPPER(ssignal, 0)
SIGNAL_WRAPPER(sysv_signal, 1)
SIGNAL_WRAPPER(__sysv_signal, 1)

/* System V sigset: SIG_HOLD blocks the signal; anything else installs it
 * (no mask, no flags) and unblocks it.  Returns SIG_HOLD when the signal
 * was blocked, else the previous action. */
OXA_INTERPOSE sighandler_t sigset(int sig, sighandler_t h)
{
	if (sig > 0 && sig == oxa__s.signo &&
	    __atomic_load_n(&oxa__s.inited, __ATOMIC_ACQUIRE) && h != SIG_ERR) {
		sigset_t one, was;
		sigemptyset(&one);
		sigaddset(&one, sig);
		if (h == SIG_HOLD) {
			struct sigaction old;
			if (pthread_sigmask(SIG_BLOCK, &one, &was) != 0)
				return SIG_ERR;
			oxa__host_get(&old);
			return sigismember(&was, sig) == 1 ? SIG_HOLD :
							      handler_of(&old);
		}
		struct sigaction sa, old;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = h;
		sigemptyset(&sa.sa_mask);
		if (host_sigaction(sig, &sa, &old)) {
			if (pthread_sigmask(SIG_UNBLOCK, &one, &was) != 0)
				return SIG_ERR;
			return sigismember(&was, sig) == 1 ? SIG_HOLD :
							      handler_of(&old);
		}
	}
	signal_fn f = (signal_fn)next(&real_sigset, "sigset");
	if (!f) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	return f(sig, h);
}
