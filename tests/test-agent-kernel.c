/*
 * test-agent-kernel.c - system time (issue 13, item 5): a program spending
 * about half its CPU in system calls (tests/progs/syscalls.c), profiled by
 * the real agent, aggregated by the real oxprofd, read with the real
 * oxprofctl.  The profile's header gives the user/system split the kernel
 * counted (compared with the child's rusage, which is what /proc/PID/stat
 * said at its exit), says which of it was sampled, and the achieved rate
 * is per CPU-second of that time; with system time sampled, a [kernel]
 * leaf sits under the frame that made the call.
 *
 * Every bound is on CPU time or sample counts, never on wall time.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "daemon-harness.h"
#include "task.h"

/* Run argv, its stdout into out; returns the wait status. */
static int run_out(const char *const argv[], char *out, size_t len)
{
	int pfd[2];
	ASSERT(pipe(pfd) == 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t n;
	char sink[4096];
	while ((n = read(pfd[0], got + 1 < len ? out + got : sink,
			 got + 1 < len ? len - got - 1 : sizeof(sink))) > 0)
		if (got + 1 < len)
			got += (size_t)n;
	out[got] = 0;
	close(pfd[0]);
	int st;
	ASSERT(waitpid(pid, &st, 0) == pid);
	return st;
}

/* oxprofctl --socket SOCK args (NULL-terminated); asserts exit 0. */
static void ctl_v(const struct oxt_daemon *d, char *out, size_t len, const char *const *args)
{
	const char *argv[16] = { OXPROFCTL_PATH, "--socket", d->sock };
	int n = 3;
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int st = run_out(argv, out, len);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "oxprofctl %s: status 0x%x: %s",
		   args[0], st, out);
}
#define ctl(d, out, len, ...) ctl_v(d, out, len, (const char *const[]){ __VA_ARGS__, NULL })

/* The number after "key": at or after from; -1 when absent. */
static double json_num(const char *doc, const char *from, const char *key)
{
	char k[64];
	snprintf(k, sizeof(k), "\"%s\": ", key);
	const char *p = strstr(from ? from : doc, k);
	return p ? strtod(p + strlen(k), NULL) : -1;
}

static int json_has(const char *doc, const char *key, const char *val)
{
	char k[128];
	snprintf(k, sizeof(k), "\"%s\": \"%s\"", key, val);
	return strstr(doc, k) != NULL;
}

/* Samples of a folded profile: all, with a [kernel] leaf, those whose
 * [kernel] sits under `caller` somewhere above it (and directly under a
 * frame named like `parent`), and those directly under `never`. */
struct kstats {
	uint64_t total, kernel, under_caller, parent_ok, under_never;
};

static void folded_stats(char *doc, const char *caller, const char *parent, const char *never,
			 struct kstats *k)
{
	memset(k, 0, sizeof(*k));
	for (char *line = strtok(doc, "\n"); line; line = strtok(NULL, "\n")) {
		char *sp = strrchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		uint64_t c = strtoull(sp + 1, NULL, 10);
		k->total += c;
		char *leaf = strrchr(line, ';');
		if (!leaf || strcmp(leaf + 1, "[kernel]") != 0)
			continue;
		k->kernel += c;
		*leaf = 0;
		char *up = strrchr(line, ';');
		up = up ? up + 1 : line;
		if (strstr(line, caller)) {
			k->under_caller += c;
			if (strstr(up, parent))
				k->parent_ok += c;
		}
		if (strcmp(up, never) == 0)
			k->under_never += c;
	}
}

static int is_exited(const struct oxt_agent_row *r)
{
	return r->state == OXP_AGENT_EXITED;
}

static void wait_exited(const struct oxt_daemon *d, pid_t pid)
{
	for (uint64_t t0 = oxt_ms(); oxt_ms() - t0 < 20000; usleep(50000)) {
		struct oxt_status st;
		oxt_status(d, &st);
		const struct oxt_agent_row *r = oxt_status_pid(&st, pid);
		if (r && is_exited(r))
			return;
	}
	OXT_FAIL("the agent of %d never showed as exited", (int)pid);
}

struct run {
	long user_ms, sys_ms;      /* the kernel's, at the child's exit */
	char query[16384];         /* query --json */
	char table[16384];         /* query (table) */
	char folded[65536];        /* query --by stack --format folded */
	char status[65536];        /* status --json */
	double hz_status;          /* the row's achieved rate */
};

/* Profile `syscalls -c cpu_ms` at 100 Hz with extra_env (may be NULL). */
static void profile(const char *extra_env, const char *cpu_ms, struct run *out)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	char buf[4096];
	ctl(&d, buf, sizeof(buf), "start", "--hz", "100");
	static char sockv[400];
	snprintf(sockv, sizeof(sockv), "OXPROF_SOCKET=%s", d.sock);
	const char *env[] = { sockv, extra_env, NULL };
	char *argv[] = { OXT_SYSCALLS, "-c", (char *)cpu_ms, NULL };
	pid_t p = oxt_spawn_agent(argv, env);
	int st;
	struct rusage ru;
	ASSERT(wait4(p, &st, 0, &ru) == p);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "syscalls: status 0x%x", st);
	out->user_ms = ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000;
	out->sys_ms = ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000;
	wait_exited(&d, p);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)p);
	ctl(&d, out->query, sizeof(out->query), "query", "--json", "--pid", pid);
	ctl(&d, out->table, sizeof(out->table), "query", "--pid", pid);
	ctl(&d, out->folded, sizeof(out->folded), "query", "--by", "stack", "--format", "folded",
	    "--pid", pid);
	ctl(&d, out->status, sizeof(out->status), "status", "--json");
	char key[32];
	snprintf(key, sizeof(key), "\"pid\": %d", (int)p);
	const char *row = strstr(out->status, key);
	ASSERT_MSG(row, "pid %d not in status: %s", (int)p, out->status);
	out->hz_status = json_num(out->status, row, "hz_achieved");
	printf("  kernel: user %ld ms, system %ld ms\n  %s", out->user_ms, out->sys_ms,
	       out->table);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* The header's CPU time matches the kernel's within 10 % of the CPU time
 * (plus 50 ms): the agent counts from its arm to its last report. */
static void check_split(const struct run *r)
{
	double u = json_num(r->query, NULL, "cpu_user_ms");
	double k = json_num(r->query, NULL, "cpu_sys_ms");
	double tol = 0.1 * (double)(r->user_ms + r->sys_ms) + 50;
	ASSERT_MSG(u >= 0 && k >= 0, "no CPU time in the JSON header: %s", r->query);
	ASSERT_MSG(u > r->user_ms - tol && u < r->user_ms + tol,
		   "header user %.0f ms, kernel %ld ms", u, r->user_ms);
	ASSERT_MSG(k > r->sys_ms - tol && k < r->sys_ms + tol,
		   "header system %.0f ms, kernel %ld ms", k, r->sys_ms);
	ASSERT_MSG(strstr(r->table, "cpu time: "), "no CPU line in the table header:\n%s",
		   r->table);
}

/* Samples per sampled CPU-second near the 100 Hz asked for, in the
 * header and in status (the bug: 40-50 of 100 Hz, per user+system time
 * while only user time was sampled). */
static void check_rate(const struct run *r)
{
	double hz = json_num(r->query, NULL, "hz_per_cpu_second");
	ASSERT_MSG(hz > 75 && hz < 125, "header: %.1f samples per sampled CPU-second", hz);
	ASSERT_MSG(r->hz_status > 75 && r->hz_status < 125, "status: achieved %.1f of 100 Hz",
		   r->hz_status);
}

/*
 * The [kernel] share against the kernel's system time share: none of the
 * system time is lost (10 points below at most: ~200 samples, and the
 * kernel's split is tick-sampled too), and the excess is bounded.  The
 * excess is the first user instruction after each call, where the CPU
 * pays for the return and which the kernel counts as user time: 6 to 10
 * points against perf record -a on an idle machine, more on a loaded one
 * (caches and TLBs cold after every switch).
 */
static int share_ok(double share, double truth)
{
	return share > truth - 0.10 && share < truth + 0.25;
}

TEST_TIMEOUT(kernel_time_sampled_and_attributed_to_the_caller, 120)
{
	struct run *r = calloc(1, sizeof(*r));
	profile(NULL, "2000", r);
	check_split(r);
	check_rate(r);
	ASSERT_MSG(json_has(r->query, "cpu_sampled", "user+system"), "%s", r->query);
	ASSERT_MSG(strstr(r->table, "sampled: user+system time"), "%s", r->table);
	struct kstats k;
	folded_stats(r->folded, ";sys_work;", "getppid", "user_work", &k);
	double share = k.total ? (double)k.kernel / (double)k.total : 0;
	double truth = (double)r->sys_ms / (double)(r->user_ms + r->sys_ms);
	printf("  [kernel] %llu of %llu samples (%.1f %%; system time %.1f %%), %llu under "
	       "sys_work, %llu of them directly under getppid, %llu under user_work\n",
	       (unsigned long long)k.kernel, (unsigned long long)k.total, 100 * share,
	       100 * truth, (unsigned long long)k.under_caller,
	       (unsigned long long)k.parent_ok, (unsigned long long)k.under_never);
	ASSERT_MSG(k.total > 100, "only %llu samples", (unsigned long long)k.total);
	ASSERT_MSG(share_ok(share, truth), "[kernel] share %.2f, system time share %.2f", share,
		   truth);
	/* The calling frame: the program calls getppid only from sys_work
	 * (the rest is clock_gettime's fallback to a system call). */
	ASSERT_MSG(k.under_caller * 10 >= k.kernel * 8, "[kernel] under sys_work: %llu of %llu",
		   (unsigned long long)k.under_caller, (unsigned long long)k.kernel);
	ASSERT_MSG(k.parent_ok * 10 >= k.under_caller * 9, "[kernel] under getppid: %llu of %llu",
		   (unsigned long long)k.parent_ok, (unsigned long long)k.under_caller);
	ASSERT_EQ(k.under_never, 0);
	free(r);
}

TEST_TIMEOUT(kernel_time_user_only_says_so_and_rates_right, 120)
{
	struct run *r = calloc(1, sizeof(*r));
	profile("OXPROF_KERNEL=0", "2000", r);
	check_split(r);
	check_rate(r);
	ASSERT_MSG(json_has(r->query, "cpu_sampled", "user"), "%s", r->query);
	ASSERT_MSG(strstr(r->table, "sampled: user time ("), "%s", r->table);
	double sampled = json_num(r->query, NULL, "cpu_sampled_ms");
	double u = json_num(r->query, NULL, "cpu_user_ms");
	ASSERT_MSG(sampled == u, "sampled %.0f ms, user %.0f ms", sampled, u);
	ASSERT_MSG(!strstr(r->folded, "[kernel]"), "a [kernel] frame in user-only mode");
	free(r);
}

/* Unprivileged (perf may not count system time at perf_event_paranoid
 * >= 2): the cpu-timer engine, stand-alone, as nobody. */
TEST_TIMEOUT(kernel_time_unprivileged_cpu_timer, 120)
{
	if (geteuid() != 0)
		OXT_SKIP("needs root to switch to nobody");
	char dir[256], path[300];
	oxt_tmpdir(dir, sizeof(dir));
	ASSERT(chmod(dir, 0777) == 0);
	snprintf(path, sizeof(path), "%s/out.folded", dir);
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(90);
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		static char outv[400];
		snprintf(outv, sizeof(outv), "OXPROF_OUTPUT=%s", path);
		putenv(outv);
		putenv("OXPROF_DAEMON=0");
		putenv("OXPROF_START=1");
		setenv("LD_PRELOAD", OXT_PRELOAD, 1);
		if (OXT_ASAN_OPTIONS[0])
			setenv("ASAN_OPTIONS", OXT_ASAN_OPTIONS, 1);
		execl(OXT_SYSCALLS, OXT_SYSCALLS, "-c", "2000", (char *)NULL);
		_exit(127);
	}
	int st;
	struct rusage ru;
	ASSERT(wait4(p, &st, 0, &ru) == p);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "syscalls as nobody: status 0x%x", st);
	FILE *f = fopen(path, "r");
	ASSERT_MSG(f, "no profile at %s", path);
	static char doc[65536];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	doc[n] = 0;
	fclose(f);
	struct kstats k;
	folded_stats(doc, ";sys_work;", "getppid", "user_work", &k);
	double truth = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	double all = truth + (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	double share = k.total ? (double)k.kernel / (double)k.total : 0;
	printf("  cpu-timer: [kernel] %llu of %llu samples (%.1f %%; system time %.1f %%), "
	       "%llu under sys_work\n", (unsigned long long)k.kernel,
	       (unsigned long long)k.total, 100 * share, 100 * truth / all,
	       (unsigned long long)k.under_caller);
	ASSERT_MSG(k.total > 100, "only %llu samples", (unsigned long long)k.total);
	ASSERT_MSG(share_ok(share, truth / all), "[kernel] share %.2f, system time share %.2f",
		   share, truth / all);
	ASSERT_MSG(k.under_caller * 10 >= k.kernel * 8, "[kernel] under sys_work: %llu of %llu",
		   (unsigned long long)k.under_caller, (unsigned long long)k.kernel);
	ASSERT_EQ(k.under_never, 0);
	unlink(path);
	rmdir(dir);
}

/* The processes' CPU times are in the snapshot (format 4): a restarted
 * daemon's header says what the first one's did. */
TEST_TIMEOUT(kernel_time_survives_a_daemon_restart, 120)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	oxt_daemon_stop(&d);
	const char *args[] = { "--state-dir", d.state, "--snapshot-interval", "3600", NULL };
	oxt_daemon_restart(&d, args);
	char before[16384], after[16384], buf[4096];
	ctl(&d, buf, sizeof(buf), "start", "--hz", "100");
	static char sockv[400];
	snprintf(sockv, sizeof(sockv), "OXPROF_SOCKET=%s", d.sock);
	const char *env[] = { sockv, NULL };
	char *argv[] = { OXT_SYSCALLS, "-c", "500", NULL };
	pid_t p = oxt_spawn_agent(argv, env);
	int st;
	ASSERT(waitpid(p, &st, 0) == p);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "syscalls: status 0x%x", st);
	wait_exited(&d, p);
	ctl(&d, before, sizeof(before), "query", "--json", "--limit", "1");
	oxt_daemon_stop(&d); /* writes the snapshot */
	oxt_daemon_restart(&d, args);
	ASSERT(oxt_daemon_log_has(&d, "snapshot loaded"));
	ctl(&d, after, sizeof(after), "query", "--json", "--limit", "1");
	static const char *const keys[] = { "cpu_user_ms", "cpu_sys_ms", "cpu_sampled_ms", "total" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		double a = json_num(before, NULL, keys[i]), b = json_num(after, NULL, keys[i]);
		printf("  %s: %.0f before, %.0f after\n", keys[i], a, b);
		ASSERT_MSG(a > 0 && a == b, "%s: %.0f before the restart, %.0f after", keys[i], a, b);
	}
	ASSERT(json_has(after, "cpu_sampled", "user+system"));
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

static int has_50(const struct oxt_agent_row *r)
{
	return r->samples >= 50;
}

/* `start` resets the samples: the header's CPU time then counts from the
 * reset too, so the rate stays right for a process that runs across it. */
TEST_TIMEOUT(kernel_time_counts_from_the_reset, 120)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	char buf[16384];
	ctl(&d, buf, sizeof(buf), "start", "--hz", "100");
	static char sockv[400];
	snprintf(sockv, sizeof(sockv), "OXPROF_SOCKET=%s", d.sock);
	const char *env[] = { sockv, NULL };
	char *argv[] = { OXT_SYSCALLS, "-c", "3000", NULL };
	pid_t p = oxt_spawn_agent(argv, env);
	int ready = 0;
	for (uint64_t t0 = oxt_ms(); !ready && oxt_ms() - t0 < 60000; usleep(50000)) {
		struct oxt_status st;
		oxt_status(&d, &st);
		const struct oxt_agent_row *r = oxt_status_pid(&st, p);
		ready = r && has_50(r);
	}
	ASSERT_MSG(ready, "no 50 samples from %d", (int)p);
	ctl(&d, buf, sizeof(buf), "start", "--hz", "100");
	int st;
	struct rusage ru;
	ASSERT(wait4(p, &st, 0, &ru) == p);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "syscalls: status 0x%x", st);
	wait_exited(&d, p);
	ctl(&d, buf, sizeof(buf), "query", "--json", "--limit", "1");
	double all = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
		     (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	double cpu = json_num(buf, NULL, "cpu_user_ms") + json_num(buf, NULL, "cpu_sys_ms");
	double hz = json_num(buf, NULL, "hz_per_cpu_second");
	printf("  CPU %.0f ms in all, %.0f ms since the reset; %.1f samples per CPU-second\n", all,
	       cpu, hz);
	ASSERT_MSG(cpu > 0 && cpu < all - 300, "header CPU %.0f ms of %.0f ms in all", cpu, all);
	ASSERT_MSG(hz > 75 && hz < 125, "%.1f samples per sampled CPU-second", hz);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}
