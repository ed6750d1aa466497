/*
 * runner.c - runs the cases of the binary's test list (oxt_list, see
 * task.h), each in its own forked child with a timeout, in list order.
 * Usage: test-foo [--list] [NAME-SUBSTRING...]
 * Prints one line per case and a closing "N passed, N failed, N skipped"
 * line; a case that calls OXT_SKIP is counted as skipped, never as passed.
 */
#include "task.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

static int run_one(const struct oxt_case *c)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
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
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = run_one(c);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		printf("%-4s %s (%.0f ms)\n", r == 0 ? "ok" : r > 0 ? "skip" : "FAIL",
		       c->name, ms);
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
