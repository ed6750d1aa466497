/* record.c - private daemon, agent lookup, spawning, signals; see record.h. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "record.h"

#ifndef OXC_LIBDIR
#define OXC_LIBDIR "lib"
#endif
#ifndef OXC_MULTIARCH
#define OXC_MULTIARCH ""
#endif

static int fail(char *err, size_t len, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t len, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return code;
}

/* The directory holding our own executable. */
static int self_dir(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -errno;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	snprintf(buf, len, "%s", exe);
	return 0;
}

/* The first of dir/rel[i] that exists (mode: access() bits), resolved. */
static int first_of(const char *dir, const char *const *rel, int mode, char *buf, size_t len)
{
	char p[PATH_MAX * 2];
	for (int i = 0; rel[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, rel[i]);
		char real[PATH_MAX];
		if (access(p, mode) == 0 && realpath(p, real) &&
		    (size_t)snprintf(buf, len, "%s", real) < len)
			return 0;
	}
	return -ENOENT;
}

int oxc_record_find_agent(char *buf, size_t len, char *err, size_t errlen)
{
	const char *env = getenv("OXPROF_AGENT");
	if (env && *env) {
		char real[PATH_MAX];
		if (access(env, R_OK) < 0 || !realpath(env, real))
			return fail(err, errlen, -ENOENT, "OXPROF_AGENT=%s: %s", env, strerror(errno));
		snprintf(buf, len, "%s", real);
		return 0;
	}
	char dir[PATH_MAX];
	const char *const rel[] = {
		"../agent/liboxprof.so",                   /* build tree */
		"../" OXC_LIBDIR "/liboxprof.so",          /* installed, GNUInstallDirs */
		"../lib/" OXC_MULTIARCH "/liboxprof.so",   /* Debian multiarch */
		"../lib64/liboxprof.so", "../lib/liboxprof.so", NULL,
	};
	if (self_dir(dir, sizeof(dir)) < 0 || first_of(dir, rel, R_OK, buf, len) < 0)
		return fail(err, errlen, -ENOENT, "cannot find liboxprof.so next to oxprofctl "
			    "(looked in %s/../agent, ../lib); set OXPROF_AGENT=/path/to/liboxprof.so",
			    dir);
	return 0;
}

static int in_path(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	if (!path)
		return -ENOENT;
	char *copy = strdup(path), *save = NULL;
	int r = -ENOENT;
	for (char *d = strtok_r(copy, ":", &save); d && r < 0; d = strtok_r(NULL, ":", &save)) {
		const char *const rel[] = { name, NULL };
		r = first_of(*d ? d : ".", rel, X_OK, buf, len);
	}
	free(copy);
	return r;
}

int oxc_record_find_daemon(char *buf, size_t len, char *err, size_t errlen)
{
	/* Not OXPROF_DAEMON: the agent reads that one (0 = stand-alone). */
	const char *env = getenv("OXPROFD");
	if (env && *env) {
		if (strchr(env, '/') ? access(env, X_OK) == 0 && snprintf(buf, len, "%s", env) > 0 :
				       in_path(env, buf, len) == 0)
			return 0;
		return fail(err, errlen, -ENOENT, "OXPROFD=%s: not an executable program", env);
	}
	char dir[PATH_MAX];
	const char *const rel[] = { "oxprofd", "../daemon/oxprofd", "../sbin/oxprofd", NULL };
	if (self_dir(dir, sizeof(dir)) == 0 && first_of(dir, rel, X_OK, buf, len) == 0)
		return 0;
	if (in_path("oxprofd", buf, len) == 0)
		return 0;
	return fail(err, errlen, -ENOENT, "no oxprofd answers and none was found to start "
		    "(looked next to oxprofctl and in PATH); install it or set "
		    "OXPROFD=/path/to/oxprofd");
}

/* ---- private daemon ---- */

static void daemon_child(const struct oxc_daemon *d, const char *exe)
{
	/* Its own session: a Ctrl-C at the terminal goes to the program and to
	 * us, never straight to the daemon we still need for the query. */
	setsid();
	/* If we are killed outright, the daemon must not outlive us. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int log = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
	}
	if (log >= 0)
		dup2(log, 2);
	/* Never profile the daemon itself, whatever LD_PRELOAD holds. */
	setenv("OXPROF_DISABLE", "1", 1);
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	execl(exe, "oxprofd", "--socket", d->sock, (char *)NULL);
	fprintf(stderr, "cannot run %s: %s\n", exe, strerror(errno));
	_exit(127);
}

/* The last non-empty line of the daemon's log, to explain a failure. */
static void last_log_line(const struct oxc_daemon *d, char *buf, size_t len)
{
	buf[0] = '\0';
	FILE *f = fopen(d->log, "r");
	if (!f)
		return;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0])
			snprintf(buf, len, "%s", line);
	}
	fclose(f);
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Poll until the daemon answers, it dies, a signal arrives or time is up. */
static int wait_ready(struct oxc_daemon *d, int timeout_ms, char *err, size_t errlen)
{
	struct oxc_ctl c;
	int r = -ETIMEDOUT;
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		int st;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			d->pid = 0;
			return fail(err, errlen, -ECHILD, "the private oxprofd exited at once");
		}
		if (oxc_record_signal_seen())
			return fail(err, errlen, -EINTR, "interrupted");
		if ((r = oxc_ctl_open(&c, d->sock, 1000)) == 0) {
			oxc_ctl_close(&c);
			return 0;
		}
		if (r != -OXP_ENODAEMON)
			return fail(err, errlen, r, "%s", c.err);
		sleep_ms(20);
	}
	return fail(err, errlen, r, "the private oxprofd did not answer within %d ms", timeout_ms);
}

int oxc_record_daemon_start(struct oxc_daemon *d, const char *exe, int timeout_ms,
			    char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	const char *tmp = getenv("TMPDIR");
	/* A Unix socket path has at most 107 bytes: a long TMPDIR cannot hold it. */
	if (!tmp || !*tmp || strlen(tmp) > 80)
		tmp = "/tmp";
	snprintf(d->dir, sizeof(d->dir), "%s/oxprofctl-XXXXXX", tmp);
	if (!mkdtemp(d->dir)) {
		int e = errno;
		fail(err, errlen, -e, "cannot make a private dir %s: %s", d->dir, strerror(e));
		d->dir[0] = '\0';
		return -e;
	}
	snprintf(d->sock, sizeof(d->sock), "%s/oxprof.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/oxprofd.log", d->dir);
	fflush(NULL);
	d->pid = fork();
	if (d->pid < 0) {
		int e = errno;
		d->pid = 0;
		oxc_record_daemon_stop(d);
		return fail(err, errlen, -e, "fork: %s", strerror(e));
	}
	if (d->pid == 0)
		daemon_child(d, exe);
	int r = wait_ready(d, timeout_ms, err, errlen);
	if (r < 0 && r != -EINTR) {
		char line[512];
		last_log_line(d, line, sizeof(line));
		size_t n = strlen(err);
		if (line[0] && n < errlen)
			snprintf(err + n, errlen - n, " (%s: %s)", exe, line);
	}
	if (r < 0)
		oxc_record_daemon_stop(d);
	return r;
}

/* Remove dir and what the daemon left in it (socket, log, state). */
static void remove_dir(const char *dir)
{
	DIR *dp = opendir(dir);
	if (dp) {
		struct dirent *e;
		char p[PATH_MAX * 2];
		while ((e = readdir(dp))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			if (unlink(p) < 0 && errno == EISDIR)
				remove_dir(p);
		}
		closedir(dp);
	}
	rmdir(dir);
}

void oxc_record_daemon_stop(struct oxc_daemon *d)
{
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		int st, waited = 0;
		while (waitpid(d->pid, &st, WNOHANG) == 0 && waited < 3000) {
			sleep_ms(10);
			waited += 10;
		}
		if (waited >= 3000) {
			kill(d->pid, SIGKILL);
			waitpid(d->pid, &st, 0);
		}
		d->pid = 0;
	}
	if (d->dir[0])
		remove_dir(d->dir);
	d->dir[0] = '\0';
}

/* ---- signals ---- */

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t last_signal;
static struct sigaction old_int, old_term, old_hup;

/*
 * Forward the signal to the program.  Not when the terminal sent it
 * (SI_KERNEL): a Ctrl-C reaches the whole foreground process group, the
 * program included, and a second copy would look like a second Ctrl-C.
 * Async-signal-safe.
 */
static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int saved = errno;
	last_signal = sig;
	if (child_pid > 0 && !(si && si->si_code == SI_KERNEL))
		kill((pid_t)child_pid, sig);
	errno = saved;
}

void oxc_record_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
}

void oxc_record_signals_restore(void)
{
	child_pid = 0;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGHUP, &old_hup, NULL);
}

int oxc_record_signal_seen(void)
{
	return last_signal;
}

void oxc_record_signal_clear(void)
{
	last_signal = 0;
}

/* ---- the program ---- */

/* In the child, before exec: the agent's contract is its environment. */
static void child_env(const struct oxc_spawn *s)
{
	const char *old = getenv("LD_PRELOAD");
	char *preload = NULL;
	if (old && *old && asprintf(&preload, "%s:%s", old, s->agent) > 0)
		setenv("LD_PRELOAD", preload, 1);
	else
		setenv("LD_PRELOAD", s->agent, 1);
	free(preload);
	char num[16];
	setenv("OXPROF_SOCKET", s->sock, 1);
	setenv("OXPROF_START", "1", 1);
	snprintf(num, sizeof(num), "%u", (unsigned)s->hz);
	setenv("OXPROF_HZ", num, 1);
	if (s->mode >= 0)
		setenv("OXPROF_MODE", s->mode ? "wall" : "cpu", 1);
	if (s->depth) {
		snprintf(num, sizeof(num), "%u", (unsigned)s->depth);
		setenv("OXPROF_DEPTH", num, 1);
	}
	const char *d = getenv("OXPROF_DAEMON");
	if (d && !strcmp(d, "0"))
		unsetenv("OXPROF_DAEMON"); /* stand-alone would report nothing */
	unsetenv("OXPROF_DISABLE");
}

/* In the child: default signal handling, the agent's environment, exec.
 * On failure the errno goes to the parent through fd. */
static void exec_child(const struct oxc_spawn *s, int fd, const sigset_t *mask)
{
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigprocmask(SIG_SETMASK, mask, NULL);
	if (s->stdout_to_stderr)
		dup2(2, 1);
	child_env(s);
	execvp(s->argv[0], s->argv);
	int e = errno;
	if (write(fd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(e == ENOENT ? 127 : 126);
}

int oxc_record_spawn(const struct oxc_spawn *s, pid_t *pid, char *err, size_t errlen)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(err, errlen, -errno, "pipe: %s", strerror(errno));
	/* Blocked across fork, so a signal in between is forwarded once the
	 * handler knows the child, and the child never runs our handler. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	fflush(NULL);
	pid_t c = fork();
	if (c == 0)
		exec_child(s, p[1], &old);
	int e = c < 0 ? errno : 0;
	if (c > 0)
		child_pid = c;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (c < 0) {
		close(p[0]);
		return fail(err, errlen, -e, "fork: %s", strerror(e));
	}
	ssize_t n;
	/* EOF (exec succeeded, the pipe closed on exec) or the child's errno. */
	while ((n = read(p[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(p[0]);
	*pid = c;
	if (n == (ssize_t)sizeof(e)) {
		oxc_record_wait(c);
		return fail(err, errlen, -e, "cannot run %s: %s", s->argv[0], strerror(e));
	}
	return 0;
}

int oxc_record_wait(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	child_pid = 0;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

/* ---- before the start: can the agent load at all? ---- */

/* Does the ELF file at fd ask for a program interpreter (the dynamic
 * loader)?  1 yes, 0 no (static), -1 not an ELF executable we can read. */
static int elf_has_interp(int fd)
{
	unsigned char id[EI_NIDENT];
	if (pread(fd, id, sizeof(id), 0) != (ssize_t)sizeof(id) || memcmp(id, ELFMAG, SELFMAG))
		return -1;
	int is64 = id[EI_CLASS] == ELFCLASS64;
	uint64_t phoff;
	unsigned phnum, phent, type;
	if (is64) {
		Elf64_Ehdr e;
		if (pread(fd, &e, sizeof(e), 0) != (ssize_t)sizeof(e))
			return -1;
		phoff = e.e_phoff, phnum = e.e_phnum, phent = e.e_phentsize, type = e.e_type;
	} else {
		Elf32_Ehdr e;
		if (pread(fd, &e, sizeof(e), 0) != (ssize_t)sizeof(e))
			return -1;
		phoff = e.e_phoff, phnum = e.e_phnum, phent = e.e_phentsize, type = e.e_type;
	}
	if ((type != ET_EXEC && type != ET_DYN) || !phnum || phnum >= PN_XNUM ||
	    phent < (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
		return -1;
	for (unsigned i = 0; i < phnum; i++) {
		uint32_t pt;
		/* p_type is the first field of both layouts, in the file's byte
		 * order, which is ours: we are about to run it here. */
		if (pread(fd, &pt, sizeof(pt), (off_t)(phoff + (uint64_t)i * phent)) != sizeof(pt))
			return -1;
		if (pt == PT_INTERP)
			return 1;
	}
	return 0;
}

int oxc_record_unpreloadable(const char *prog, char *why, size_t len)
{
	char path[PATH_MAX];
	struct stat st;
	if (strchr(prog, '/'))
		snprintf(path, sizeof(path), "%s", prog);
	else if (in_path(prog, path, sizeof(path)) < 0)
		return 0; /* exec will say it is not there */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int interp = elf_has_interp(fd);
	int r = fstat(fd, &st);
	close(fd);
	if (interp == 0)
		return fail(why, len, 1, "%s is statically linked, so the agent (LD_PRELOAD) cannot "
			    "load into it", path);
	if (r == 0 && (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
		       ((st.st_mode & S_ISGID) && st.st_gid != getegid())))
		return fail(why, len, 1, "%s is set-user-ID or set-group-ID, and the loader ignores "
			    "LD_PRELOAD for it", path);
	return 0;
}
