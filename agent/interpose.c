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
 */
#include <dlfcn.h>
#include <errno.h>
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
