/*
 * runner.c - runs every registered TEST in its own forked child with a
 * timeout.  Usage: test-foo [--list] [NAME-SUBSTRING...]
 * Prints one line per case and a closing "N passed, N failed, N skipped"
 * line; a case that calls OXT_SKIP is counted as skipped, never as passed.
 */
#include "task.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OXT_MAX 512

static struct {
	const char *name;
	oxt_fn fn;
	int timeout_s;
} oxt_cases[OXT_MAX];
static int oxt_n;

void oxt_register(const char *name, oxt_fn fn, int timeout_s)
{
	if (oxt_n == OXT_MAX) {
		fprintf(stderr, "too many tests\n");
		exit(2);
	}
	oxt_cases[oxt_n].name = name;
	oxt_cases[oxt_n].fn = fn;
	oxt_cases[oxt_n].timeout_s = timeout_s;
	oxt_n++;
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

static int run_one(int i)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		alarm((unsigned)oxt_cases[i].timeout_s);
		oxt_cases[i].fn();
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
		fprintf(stderr, "  timed out after %d s\n", oxt_cases[i].timeout_s);
	return -1;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (int i = 0; i < oxt_n; i++)
			printf("%s\n", oxt_cases[i].name);
		return 0;
	}
	int passed = 0, failed = 0, skipped = 0;
	for (int i = 0; i < oxt_n; i++) {
		if (!selected(oxt_cases[i].name, argc, argv))
			continue;
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = run_one(i);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		printf("%-4s %s (%.0f ms)\n", r == 0 ? "ok" : r > 0 ? "skip" : "FAIL",
		       oxt_cases[i].name, ms);
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
