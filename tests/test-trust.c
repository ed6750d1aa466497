/*
 * test-trust.c - oxprofctl and oxprofd apply the agent's trust rule to the
 * socket: with no /run/oxprof and no XDG_RUNTIME_DIR, `nobody` can make
 * /tmp/oxprof-0 first and serve a socket there; root's oxprofctl must not
 * talk to it (status, unpause), `record` must not hand it the profile (it
 * uses a private daemon instead), and root's oxprofd must not listen in a
 * directory nobody controls.
 *
 * Each case runs in a private mount namespace with a fresh tmpfs on /tmp
 * (and on /run when /run/oxprof exists), so the host's /tmp is not
 * touched.  Needs root (namespaces, running things as nobody).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "task.h"

#define NOBODY 65534
#define SQUAT "/tmp/oxprof-0"
#define SQUAT_SOCK SQUAT "/oxprof.sock"

/* A private /tmp (and /run), and an environment that leaves the path rule
 * to its /tmp fallback.  0, or 1 when this cannot be done here (skip). */
static int private_tmp(void)
{
	if (getuid() != 0) {
		OXT_SKIP("needs root (mount namespace, running as nobody)");
	}
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		OXT_SKIP("no private mount namespace here: %s", strerror(errno));
	}
	ASSERT(mount("tmpfs", "/tmp", "tmpfs", 0, "mode=1777") == 0);
	if (access("/run/oxprof", F_OK) == 0)
		ASSERT(mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") == 0);
	ASSERT(access("/run/oxprof", F_OK) != 0);
	unsetenv("XDG_RUNTIME_DIR");
	unsetenv("OXPROF_SOCKET");
	unsetenv("OXPROF_DAEMON_USER");
	return 0;
}

static void become_nobody(void)
{
	gid_t g = NOBODY;
	if (setgroups(1, &g) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
		_exit(126);
}

/* nobody's own oxprofd at SQUAT_SOCK, in a dir nobody made first. */
static void squat(struct oxt_daemon *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->dir, sizeof(d->dir), SQUAT);
	snprintf(d->sock, sizeof(d->sock), SQUAT_SOCK);
	snprintf(d->log, sizeof(d->log), "/tmp/squatter.log");
	int log = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT(log >= 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		become_nobody();
		dup2(log, 2);
		if (mkdir(SQUAT, 0755) < 0 && errno != EEXIST)
			_exit(125);
		execl(OXPROFD_PATH, "oxprofd", "--socket", SQUAT_SOCK, "--log-level", "info",
		      (char *)NULL);
		_exit(127);
	}
	close(log);
	d->pid = pid;
	for (int i = 0; i < 400; i++) {
		int fd;
		if (oxp_connect(d->sock, &fd) == 0) {
			close(fd);
			return;
		}
		ASSERT_MSG(waitpid(pid, NULL, WNOHANG) == 0, "nobody's oxprofd did not start");
		usleep(25000);
	}
	OXT_FAIL("nobody's oxprofd did not listen within 10 s");
}

/* Run argv (with env entries "NAME=VALUE" added), stdout and stderr into
 * out.  Returns the exit status (128+N for signal N). */
static int run(const char *const *argv, const char *const *env, char *out, size_t outlen)
{
	char path[] = "/tmp/oxt-trust-out-XXXXXX";
	int fd = mkstemp(path);
	ASSERT(fd >= 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	ASSERT(waitpid(pid, &st, 0) == pid);
	ssize_t n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = 0;
	close(fd);
	unlink(path);
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static const char *const asan_env[] = {
	"ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0", NULL, NULL,
};

static void stop_squatter(struct oxt_daemon *d)
{
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
}

TEST_TIMEOUT(trust_oxprofctl_refuses_a_squatted_socket, 120)
{
	if (private_tmp())
		return;
	struct oxt_daemon sq;
	squat(&sq);
	struct oxt_status before, after;
	oxt_status(&sq, &before);
	char out[8192];
	const char *status[] = { OXPROFCTL_PATH, "status", NULL };
	int r = run(status, asan_env, out, sizeof(out));
	printf("  status: exit %d: %s", r, out);
	ASSERT_MSG(r != 0, "root's oxprofctl status talked to nobody's daemon");
	ASSERT(strstr(out, SQUAT) && strstr(out, "uid 65534"));
	const char *unpause[] = { OXPROFCTL_PATH, "unpause", NULL };
	r = run(unpause, asan_env, out, sizeof(out));
	ASSERT_MSG(r != 0, "root's oxprofctl unpause talked to nobody's daemon: %s", out);
	ASSERT(strstr(out, SQUAT) && strstr(out, "uid 65534"));
	oxt_status(&sq, &after);
	ASSERT_EQ(after.fleet.running, before.fleet.running);
	/* The socket itself in a dir root trusts is not enough: the daemon
	 * behind it must be trusted too. */
	const char *direct[] = { OXPROFCTL_PATH, "--socket", SQUAT_SOCK, "status", NULL };
	ASSERT(chown(SQUAT, 0, 0) == 0);
	ASSERT(chown(SQUAT_SOCK, 0, 0) == 0);
	r = run(direct, asan_env, out, sizeof(out));
	printf("  status, socket chowned to root: exit %d: %s", r, out);
	ASSERT(r != 0 && strstr(out, "runs as uid 65534") && strstr(out, "OXPROF_DAEMON_USER"));
	/* Told that uid 65534 is the daemon's user, it talks. */
	const char *trusting_env[] = { "OXPROF_DAEMON_USER=nobody", asan_env[0], NULL };
	r = run(direct, trusting_env, out, sizeof(out));
	ASSERT_MSG(r == 0, "OXPROF_DAEMON_USER=nobody: exit %d: %s", r, out);
	stop_squatter(&sq);
}

TEST_TIMEOUT(trust_record_keeps_its_profile_from_a_squatter, 120)
{
	if (private_tmp())
		return;
	struct oxt_daemon sq;
	squat(&sq);
	char out[16384];
	const char *record[] = { OXPROFCTL_PATH, "record", "-o", "/tmp/profile.folded", "--",
				 "/bin/sh", "-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done",
				 NULL };
	const char *env[] = { asan_env[0], OXT_PRELOAD[0] ? "LD_PRELOAD=" OXT_PRELOAD : NULL,
			      NULL };
	int r = run(record, env, out, sizeof(out));
	printf("  record: exit %d:\n%s", r, out);
	ASSERT_EQ(r, 0);
	ASSERT_MSG(strstr(out, SQUAT) && strstr(out, "using a private daemon"),
		   "record did not say why it did not use " SQUAT_SOCK);
	struct stat pst;
	ASSERT_MSG(stat("/tmp/profile.folded", &pst) == 0 && pst.st_size > 0,
		   "record wrote no profile");
	ASSERT(strstr(out, "agents:"));
	struct oxt_status st;
	oxt_status(&sq, &st);
	ASSERT_MSG(st.nagents == 0, "nobody's daemon got %u agent rows", (unsigned)st.nagents);
	stop_squatter(&sq);
}

/* Spawn root's oxprofd on the default path; returns its pid. */
static pid_t root_daemon(const char *log)
{
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT(fd >= 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 2);
		execl(OXPROFD_PATH, "oxprofd", "--log-level", "info", (char *)NULL);
		_exit(127);
	}
	close(fd);
	return pid;
}

static int file_has(const char *path, const char *s)
{
	char buf[8192];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	return strstr(buf, s) != NULL;
}

TEST_TIMEOUT(trust_oxprofd_makes_its_tmp_dir_private, 120)
{
	if (private_tmp())
		return;
	/* Root's oxprofd prefers /run/oxprof while it can make it: a read-only
	 * /run sends it to the /tmp fallback, like a user's daemon. */
	ASSERT(mount("tmpfs", "/run", "tmpfs", MS_RDONLY, "mode=0755") == 0);
	/* Its own dir: made 0700, and then root's oxprofctl talks to it. */
	pid_t pid = root_daemon("/tmp/root-daemon.log");
	int fd = -1;
	for (int i = 0; i < 400 && oxp_connect(SQUAT_SOCK, &fd) < 0; i++) {
		ASSERT_MSG(waitpid(pid, NULL, WNOHANG) == 0, "root's oxprofd exited");
		usleep(25000);
	}
	ASSERT(fd >= 0);
	close(fd);
	struct stat st;
	ASSERT(lstat(SQUAT, &st) == 0);
	ASSERT_EQ(st.st_mode & 07777, 0700);
	ASSERT_EQ(st.st_uid, 0);
	char out[8192];
	const char *status[] = { OXPROFCTL_PATH, "status", NULL };
	int r = run(status, asan_env, out, sizeof(out));
	ASSERT_MSG(r == 0, "status against root's own daemon: exit %d: %s", r, out);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

TEST_TIMEOUT(trust_oxprofd_refuses_to_listen_in_a_squatted_dir, 120)
{
	if (private_tmp())
		return;
	ASSERT(mount("tmpfs", "/run", "tmpfs", MS_RDONLY, "mode=0755") == 0);
	pid_t pid;
	/* nobody made the dir first (empty, or with a symlink): refused, and
	 * the log says whose it is. */
	const char *kinds[] = { "dir", "world-writable root dir", "symlink" };
	for (int k = 0; k < 3; k++) {
		pid_t c = fork();
		ASSERT(c >= 0);
		if (c == 0) {
			if (k != 1)
				become_nobody();
			if (k == 2)
				_exit(mkdir("/tmp/elsewhere", 0755) < 0 ||
				      symlink("/tmp/elsewhere", SQUAT) < 0);
			_exit(mkdir(SQUAT, 0755) < 0 || (k == 1 && chmod(SQUAT, 0777) < 0));
		}
		int cst;
		ASSERT(waitpid(c, &cst, 0) == c && WIFEXITED(cst) && WEXITSTATUS(cst) == 0);
		pid = root_daemon("/tmp/root-daemon.log");
		int exited = 0, wst = 0;
		for (int i = 0; i < 400 && !exited; i++) {
			exited = waitpid(pid, &wst, WNOHANG) == pid;
			if (!exited && access(SQUAT_SOCK, F_OK) == 0)
				break;
			usleep(25000);
		}
		if (!exited) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		ASSERT_MSG(exited && WIFEXITED(wst) && WEXITSTATUS(wst) != 0,
			   "%s: root's oxprofd listened in a directory nobody controls", kinds[k]);
		ASSERT(file_has("/tmp/root-daemon.log", "not listening at " SQUAT_SOCK));
		ASSERT(file_has("/tmp/root-daemon.log", k == 1 ? "writable by everyone" :
									"uid 65534"));
		ASSERT(system("rm -rf " SQUAT " /tmp/elsewhere") == 0);
	}
}
