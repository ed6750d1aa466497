/*
 * host.c - ordinary but unusual hosts for the agent, each checking for
 * itself that the agent left it alone.
 *
 * host daemon DIR MS   a classic daemon: daemon(3), close fds 0..1023, open
 *                      its own files (DIR/log-N, DIR/input), work MS ms while
 *                      writing known lines and reading its input; then check
 *                      every fd still names its file and the input read back
 *                      intact; write "ok" or what went wrong to DIR/verdict,
 *                      its pid to DIR/pid.
 * host jitmap KIND MS  plant /tmp/perf-PID.map as KIND (fifo, chardev: a
 *                      /dev/zero node, symlink: to /dev/zero), run JIT code
 *                      MS ms so the agent looks for the map, remove it.
 * host _exit MS        work MS ms, then _exit(0).
 * host execfail MS     work MS ms, exec a program that does not exist (it
 *                      must fail and return), work MS ms more, exit(0).
 * host vfork MS        work MS ms, vfork children that exec /bin/true and
 *                      that _exit, work MS ms more, exit(0): a vfork child
 *                      shares our memory, the agent's included.
 * host sigmask         print "sigblk=HEX" for every thread but the main one
 *                      (the agent's), from /proc/self/task/TID/status.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oxprof.h"

#define NOINL __attribute__((noinline, noipa))
#define NLOGS 8
#define INPUT_LEN 65536

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

NOINL uint64_t host_work(uint64_t x)
{
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

static char input_byte(size_t i)
{
	return (char)('a' + (i * 7 + i / 13) % 26);
}

static struct {
	int fd;
	dev_t dev;
	ino_t ino;
} files[NLOGS + 1];

static char problem[512];

static void fail(const char *fmt, const char *what, long n)
{
	if (!problem[0])
		snprintf(problem, sizeof(problem), fmt, what, n);
}

/* Still the file we opened at that number? */
static void check_fd(int i, const char *what)
{
	struct stat st;
	if (fstat(files[i].fd, &st) < 0)
		fail("%s: fd %ld was closed under us", what, files[i].fd);
	else if (st.st_dev != files[i].dev || st.st_ino != files[i].ino) {
		char link[64], now[256] = "?";
		snprintf(link, sizeof(link), "/proc/self/fd/%d", files[i].fd);
		ssize_t n = readlink(link, now, sizeof(now) - 1);
		now[n > 0 ? n : 1] = 0;
		char msg[400];
		snprintf(msg, sizeof(msg), "%%s: fd %%ld names another file (%s)", now);
		fail(msg, what, files[i].fd);
	}
}

static int open_file(const char *dir, const char *name, int flags, int i)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, flags, 0600);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -1;
	files[i].fd = fd;
	files[i].dev = st.st_dev;
	files[i].ino = st.st_ino;
	return fd;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[4096], tmp[4200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, text, strlen(text)) < 0 || close(fd) < 0)
		return;
	rename(tmp, path);
}

static int run_daemon(const char *dir, long ms)
{
	/* The input, written before we detach: INPUT_LEN known bytes. */
	static char in[INPUT_LEN], got[INPUT_LEN];
	for (size_t i = 0; i < INPUT_LEN; i++)
		in[i] = input_byte(i);
	char path[4096];
	snprintf(path, sizeof(path), "%s/input", dir);
	FILE *f = fopen(path, "w");
	if (!f || fwrite(in, 1, INPUT_LEN, f) != INPUT_LEN || fclose(f) != 0)
		return 1;
	if (daemon(0, 0) < 0)
		return 1;
	for (int fd = 0; fd < 1024; fd++)
		close(fd);
	/* Read-write, so a stray read or write by anyone else would land. */
	if (open_file(dir, "input", O_RDWR, NLOGS) < 0)
		return 1;
	for (int i = 0; i < NLOGS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "log-%d", i);
		if (open_file(dir, name, O_RDWR | O_CREAT | O_TRUNC, i) < 0)
			return 1;
	}
	char pid[32];
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	write_file(dir, "pid", pid);
	uint64_t x = 1, t0 = now_ms();
	size_t off = 0;
	for (long n = 0; now_ms() - t0 < (uint64_t)ms; n++) {
		x = host_work(x);
		for (int i = 0; i < NLOGS; i++) {
			char line[64];
			int len = snprintf(line, sizeof(line), "line %ld\n", n);
			check_fd(i, "log");
			if (write(files[i].fd, line, (size_t)len) != len)
				fail("%s: write to fd %ld failed", "log", files[i].fd);
		}
		/* Read the input on, a chunk a turn, through our one offset. */
		check_fd(NLOGS, "input");
		if (off < INPUT_LEN) {
			ssize_t r = read(files[NLOGS].fd, got + off, INPUT_LEN - off < 512 ? INPUT_LEN - off : 512);
			if (r > 0)
				off += (size_t)r;
		}
	}
	ssize_t r;
	while (off < INPUT_LEN && (r = read(files[NLOGS].fd, got + off, INPUT_LEN - off)) > 0)
		off += (size_t)r;
	if (off != INPUT_LEN || memcmp(in, got, INPUT_LEN) != 0)
		fail("%s: read back %ld bytes that differ from what was written", "input", (long)off);
	char verdict[600];
	snprintf(verdict, sizeof(verdict), "%s\n", problem[0] ? problem : "ok");
	write_file(dir, "verdict", verdict);
	return (int)(x & 0); /* exit(): the agent's destructor runs */
}

/* mov rax, rdi; 1: dec rax; jnz 1b; ret */
static const uint8_t code[] = { 0x48, 0x89, 0xf8, 0x48, 0xff, 0xc8, 0x75, 0xfb, 0xc3 };

static int run_jitmap(const char *kind, long ms)
{
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 1;
	memcpy(p, code, sizeof(code));
	if (mprotect(p, 4096, PROT_READ | PROT_EXEC) < 0)
		return 1;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	unlink(path);
	int r = !strcmp(kind, "fifo")	   ? mkfifo(path, 0666)
		: !strcmp(kind, "chardev") ? mknod(path, S_IFCHR | 0666, makedev(1, 5))
		: !strcmp(kind, "symlink") ? symlink("/dev/zero", path)
					   : -1;
	if (r < 0) {
		perror(path);
		return 2;
	}
	void (*fn)(uint64_t) = (void (*)(uint64_t))(uintptr_t)p;
	for (uint64_t t0 = now_ms(); now_ms() - t0 < (uint64_t)ms;)
		fn(1000000);
	unlink(path);
	return 0;
}

static int run_exit(long ms)
{
	uint64_t x = 1;
	for (uint64_t t0 = now_ms(); now_ms() - t0 < (uint64_t)ms;)
		x = host_work(x);
	_exit((int)(x & 0));
}

static int run_execfail(long ms)
{
	uint64_t x = 1;
	for (uint64_t t0 = now_ms(); now_ms() - t0 < (uint64_t)ms;)
		x = host_work(x);
	execl("/nonexistent/oxprof-test", "oxprof-test", (char *)NULL);
	if (errno != ENOENT)
		return 3;
	for (uint64_t t0 = now_ms(); now_ms() - t0 < (uint64_t)ms;)
		x = host_work(x);
	return (int)(x & 0);
}

static int run_vfork(long ms)
{
	uint64_t x = 1;
	for (uint64_t t0 = now_ms(); now_ms() - t0 < (uint64_t)ms;)
		x = host_work(x);
	for (int i = 0; i < 20; i++) {
		pid_t p = vfork();
		if (p == 0) {
			if (i % 2)
				_exit(7);
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		int st;
		if (p < 0 || waitpid(p, &st, 0) != p || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != (i % 2 ? 7 : 0))
			return 4;
	}
	/* The preloaded agent must still be ours and sampling. */
	int (*status)(struct oxprof_status *) =
		(int (*)(struct oxprof_status *))dlsym(RTLD_DEFAULT, "oxprof_status");
	struct oxprof_status st;
	if (status && (status(&st) != 0 || !st.running))
		return 5;
	for (uint64_t t0 = now_ms(); now_ms() - t0 < (uint64_t)ms;)
		x = host_work(x);
	return (int)(x & 0);
}

/* The blocked-signal mask of every thread but this one. */
static int run_sigmask(void)
{
	usleep(200000); /* the agent's thread is up */
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == (int)gettid())
			continue;
		char path[300], line[256];
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		FILE *f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "SigBlk:", 7))
				printf("sigblk=%s", line + 8);
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "daemon"))
		return run_daemon(argv[2], atol(argv[3]));
	if (argc >= 4 && !strcmp(argv[1], "jitmap"))
		return run_jitmap(argv[2], atol(argv[3]));
	if (argc >= 3 && !strcmp(argv[1], "_exit"))
		return run_exit(atol(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "vfork"))
		return run_vfork(atol(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "execfail"))
		return run_execfail(atol(argv[2]));
	if (argc >= 2 && !strcmp(argv[1], "sigmask"))
		return run_sigmask();
	fprintf(stderr, "usage: host daemon DIR MS | jitmap KIND MS | _exit MS | sigmask\n");
	return 2;
}
