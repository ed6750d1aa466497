/*
 * threadcpu.c - LD_PRELOAD shim for the benchmarks: records every thread's
 * own CPU time (CLOCK_THREAD_CPUTIME_ID, user + system) when it ends, so
 * per-thread sample counts can be set against per-thread CPU time and the
 * true rate can be computed per CPU-second of the program's own threads
 * (not of a profiler's helper threads).
 *
 * THREADCPU_OUT=FILE appends one line per thread:
 *     tid cpu_ns start_module
 * start_module is the object holding the thread's start routine ("main"
 * for the main thread, recorded from a destructor at exit), so the
 * benchmark can tell the workload's threads from a profiler's.
 *
 * Interposes pthread_create and forwards to the next definition
 * (RTLD_NEXT), so it stacks in front of an agent that interposes it too.
 * The cost is one malloc and one clock_gettime per thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*create_fn)(pthread_t *, const pthread_attr_t *,
			 void *(*)(void *), void *);

struct start {
	void *(*fn)(void *);
	void *arg;
	char module[128];
};

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void record(const char *module)
{
	const char *path = getenv("THREADCPU_OUT");
	if (!path || !*path)
		return;
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return;
	long long ns = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
	char line[256];
	int n = snprintf(line, sizeof(line), "%ld %lld %s\n",
			 (long)syscall(SYS_gettid), ns, module);
	if (n <= 0 || n >= (int)sizeof(line))
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	ssize_t w = write(fd, line, (size_t)n); /* one write: atomic append */
	(void)w;
	close(fd);
}

/* Runs at thread exit, by return or pthread_exit. */
static void on_exit_thread(void *p)
{
	struct start *s = p;
	record(s->module);
	free(s);
}

static void make_key(void)
{
	pthread_key_create(&key, on_exit_thread);
}

static void *trampoline(void *p)
{
	struct start *s = p;
	pthread_setspecific(key, s);
	return s->fn(s->arg);
}

int pthread_create(pthread_t *th, const pthread_attr_t *attr,
		   void *(*fn)(void *), void *arg)
{
	static create_fn next;
	if (!next)
		next = (create_fn)dlsym(RTLD_NEXT, "pthread_create");
	if (!next)
		return EAGAIN;
	pthread_once(&once, make_key);
	struct start *s = malloc(sizeof(*s));
	if (!s)
		return next(th, attr, fn, arg);
	s->fn = fn;
	s->arg = arg;
	Dl_info di;
	const char *mod = "?";
	if (dladdr((void *)fn, &di) && di.dli_fname && *di.dli_fname) {
		const char *slash = strrchr(di.dli_fname, '/');
		mod = slash ? slash + 1 : di.dli_fname;
	}
	snprintf(s->module, sizeof(s->module), "%s", mod);
	int r = next(th, attr, trampoline, s);
	if (r)
		free(s);
	return r;
}

static void record_hwm(void)
{
	const char *path = getenv("THREADCPU_OUT");
	if (!path || !*path)
		return;
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	char *p = strstr(buf, "VmHWM:");
	if (!p)
		return;
	char line[64];
	int len = snprintf(line, sizeof(line), "hwm %ld\n", atol(p + 6));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	ssize_t w = write(fd, line, (size_t)len);
	(void)w;
	close(fd);
}

__attribute__((destructor)) static void main_thread_done(void)
{
	record("main");
	record_hwm();
}
