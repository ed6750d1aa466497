/*
 * exec.c - execve and friends, _exit and _Exit, wrapped: see exec.h.
 *
 * glibc's execl, execlp, execle, execv and execvp call execve internally,
 * not through the PLT, so each entry point is wrapped on its own.  The
 * variadic ones collect their arguments into an array on the stack (no
 * malloc: exec is async-signal-safe, and a fork child of a threaded host
 * may only call such functions).
 *
 * In a vfork child (or any clone without fork handlers) the agent's memory
 * is the parent's, so the hook itself refuses to touch anything unless the
 * caller is the process that started the agent (api.c checks the pid).
 */
#include <alloca.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "exec.h"
#include "sampler/sampler.h"

#define OXA_EXPORT __attribute__((visibility("default")))

int (*oxa_exec_before)(int for_exec);
void (*oxa_exec_after_failure)(void);
int (*oxa_exec_env)(char *buf, size_t len);

#define FLEET_VAR "OXPROF_FLEET="
#define FLEET_MAX 64

extern char **environ;

static struct {
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	void (*exit_)(int);
} real;

void oxa_exec_init(void)
{
	if (__atomic_load_n(&real.exit_, __ATOMIC_ACQUIRE))
		return;
	real.execve = (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execve");
	real.execvpe = (int (*)(const char *, char *const[], char *const[]))dlsym(RTLD_NEXT, "execvpe");
	real.fexecve = (int (*)(int, char *const[], char *const[]))dlsym(RTLD_NEXT, "fexecve");
	__atomic_store_n(&real.exit_, (void (*)(int))dlsym(RTLD_NEXT, "_exit"), __ATOMIC_RELEASE);
}

/* Bit 0: the agent stopped (oxa_exec_before said so); bit 1: the calling
 * thread's sampling source is held (oxa_sampler_exec_hold). */
static int before(int for_exec)
{
	int (*f)(int) = __atomic_load_n(&oxa_exec_before, __ATOMIC_ACQUIRE);
	int stopped = f ? f(for_exec) != 0 : 0;
	return stopped | (for_exec && oxa_sampler_exec_hold() ? 2 : 0);
}

/* The new image's environment, on the caller's stack: envp without its
 * OXPROF_FLEET entries, plus the agent's own (oxa_exec_env) when it has
 * one.  alloca, no malloc: exec must stay async-signal-safe. */
#define WITH_FLEET(out, envp)                                              \
	char fleet_[FLEET_MAX];                                            \
	int (*env_)(char *, size_t) =                                      \
		__atomic_load_n(&oxa_exec_env, __ATOMIC_ACQUIRE);          \
	size_t nenv_ = 0;                                                  \
	while ((envp) && (envp)[nenv_])                                    \
		nenv_++;                                                   \
	char **out = alloca((nenv_ + 2) * sizeof(char *));                 \
	fill_env(out, envp, env_ && env_(fleet_, sizeof(fleet_)) > 0 ? fleet_ : NULL)

static void fill_env(char **out, char *const *envp, char *fleet)
{
	size_t n = 0;
	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], FLEET_VAR, sizeof(FLEET_VAR) - 1) != 0)
			out[n++] = envp[i];
	if (fleet)
		out[n++] = fleet;
	out[n] = NULL;
}

/* After a failed exec: the agent runs again, errno as exec left it. */
static int failed(int stopped, int r)
{
	int e = errno;
	void (*f)(void) = __atomic_load_n(&oxa_exec_after_failure, __ATOMIC_ACQUIRE);
	if (stopped & 2)
		oxa_sampler_exec_release();
	if ((stopped & 1) && f)
		f();
	errno = e;
	return r;
}

/* Unresolved (a static program cannot get here): fail like a bad exec. */
#define REAL(name)                                                         \
	do {                                                               \
		oxa_exec_init();                                           \
		if (!real.name) {                                          \
			errno = ENOSYS;                                    \
			return -1;                                         \
		}                                                          \
	} while (0)

OXA_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	REAL(execve);
	WITH_FLEET(env, envp);
	int s = before(1);
	return failed(s, real.execve(path, argv, env));
}

/* execv and execvp take the environment from environ: passed explicitly
 * to their e-variants, with the agent's entry. */
OXA_EXPORT int execv(const char *path, char *const argv[])
{
	REAL(execve);
	WITH_FLEET(env, environ);
	int s = before(1);
	return failed(s, real.execve(path, argv, env));
}

OXA_EXPORT int execvp(const char *file, char *const argv[])
{
	REAL(execvpe);
	WITH_FLEET(env, environ);
	int s = before(1);
	return failed(s, real.execvpe(file, argv, env));
}

OXA_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	REAL(execvpe);
	WITH_FLEET(env, envp);
	int s = before(1);
	return failed(s, real.execvpe(file, argv, env));
}

OXA_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	REAL(fexecve);
	WITH_FLEET(env, envp);
	int s = before(1);
	return failed(s, real.fexecve(fd, argv, env));
}

/* glibc declares execl's first argument nonnull, yet an empty argument
 * list (NULL first) is what some callers pass; handle it. */
#pragma GCC diagnostic ignored "-Wnonnull-compare"

/* Count execl-style arguments up to the terminating NULL. */
static size_t count_args(const char *arg0, va_list ap)
{
	size_t n = 1;
	va_list aq;
	va_copy(aq, ap);
	if (arg0)
		while (va_arg(aq, const char *))
			n++;
	va_end(aq);
	return n;
}

/* The argument array of an execl-style call, on the caller's stack (alloca:
 * exec must stay async-signal-safe).  Then *envp receives execle's
 * environment when want_env. */
#define COLLECT(argv, arg0, ap, want_env, envp)                            \
	size_t n_ = count_args(arg0, ap);                                  \
	char **argv = alloca((n_ + 1) * sizeof(char *));                   \
	argv[0] = (char *)(arg0);                                          \
	for (size_t i_ = 1; arg0 && i_ <= n_; i_++)                        \
		argv[i_] = va_arg(ap, char *);                             \
	argv[arg0 ? n_ : 1] = NULL;                                        \
	if (want_env)                                                      \
		envp = va_arg(ap, char **)

OXA_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	char **envp = NULL;
	va_start(ap, arg);
	COLLECT(argv, arg, ap, 0, envp);
	va_end(ap);
	(void)envp;
	return execv(path, argv);
}

OXA_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	char **envp = NULL;
	va_start(ap, arg);
	COLLECT(argv, arg, ap, 0, envp);
	va_end(ap);
	(void)envp;
	return execvp(file, argv);
}

OXA_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **envp = NULL;
	va_start(ap, arg);
	COLLECT(argv, arg, ap, 1, envp);
	va_end(ap);
	return execve(path, argv, envp);
}

static _Noreturn void end(int status)
{
	(void)before(0);
	void (*f)(int) = __atomic_load_n(&real.exit_, __ATOMIC_ACQUIRE);
	if (f)
		f(status);
	for (;;)
		syscall(SYS_exit_group, status);
}

OXA_EXPORT _Noreturn void _exit(int status)
{
	end(status);
}

OXA_EXPORT _Noreturn void _Exit(int status)
{
	end(status);
}
