/*
 * runner.c - runs the cases of the binary's test list (oxt_list, see
 * task.h), each in its own forked child with a timeout, in list order.
 * Usage: test-foo [--list] [NAME-SUBSTRING...]
 * Prints one line per case and a closing "N passed, N failed, N skipped"
 * line; a case that calls OXT_SKIP is counted as skipped, never as passed.
 *
 * Each case gets a temp dir of its own (oxt_case_dir, where the harnesses
 * make theirs): removed after the case passed or skipped, kept for a look
 * after a failure, and the runner says where.
 */
#include "task.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CASE_DIR_ENV "OXT_CASE_DIR"

const char *oxt_case_dir(void)
{
	const char *d = getenv(CASE_DIR_ENV);
	return d && *d ? d : "/tmp";
}

void oxt_mkdtemp(char *buf, size_t len, const char *prefix)
{
	int n = snprintf(buf, len, "%s/%s-XXXXXX", oxt_case_dir(), prefix);
	ASSERT(n > 0 && (size_t)n < len);
	ASSERT_MSG(mkdtemp(buf), "mkdtemp %s: %s", buf, strerror(errno));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

static int selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

static int run_one(const struct oxt_case *c, const char *dir)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		if (*dir)
			setenv(CASE_DIR_ENV, dir, 1);
		alarm((unsigned)c->timeout_s);
		c->fn();
		fflush(NULL);
		_exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		;
	kill(-pid, SIGKILL); /* helpers a failed case left behind */
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (WIFEXITED(st) && WEXITSTATUS(st) == OXT_SKIP_STATUS)
		return 1;
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
		fprintf(stderr, "  timed out after %d s\n", c->timeout_s);
	return -1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (int i = 0; i < oxt_nlist; i++)
			if (oxt_list[i])
				printf("%s\n", oxt_list[i]->name);
		return 0;
	}
	int passed = 0, failed = 0, skipped = 0;
	for (int i = 0; i < oxt_nlist; i++) {
		const struct oxt_case *c = oxt_list[i];
		if (!c || !selected(c->name, argc, argv))
			continue;
		/* Reachable by the cases' processes that run as nobody. */
		char dir[64] = "/tmp/oxt-case-XXXXXX";
		if (!mkdtemp(dir) || chmod(dir, 0755) < 0) {
			fprintf(stderr, "  no temp dir of its own (%s): /tmp instead\n",
				strerror(errno));
			dir[0] = 0;
		}
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = run_one(c, dir);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		printf("%-4s %s (%.0f ms)\n", r == 0 ? "ok" : r > 0 ? "skip" : "FAIL",
		       c->name, ms);
		if (dir[0] && r >= 0)
			nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		else if (dir[0])
			printf("  its files are kept in %s\n", dir);
		if (r == 0)
			passed++;
		else if (r > 0)
			skipped++;
		else
			failed++;
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
