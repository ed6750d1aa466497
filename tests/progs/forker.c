/*
 * forker.c - a forking server in miniature: forks N children one after
 * another (at most P at once), each burning a given amount of CPU time in
 * user code and leaving by one of several exits, then reports on stdout
 * the children's pids and their CPU time as the kernel measured it
 * (getrusage(RUSAGE_CHILDREN)), so a test can compare samples with it.
 *
 *   forker N MIN_MS MAX_MS [PARALLEL [HOW]]
 *   forker burn MS      (no children: burn MS of CPU and exit)
 *
 * HOW: "exit" (return from main's path through exit()), "_exit", "return"
 * (the child returns from a function that returns from main), "mix" (the
 * three in turn; the default).
 * Output: "parent PID", one line "child PID" per child, each child's
 * "thread_us PID USER SYS" (its main thread), then "cpu_us USER SYS" of all
 * the children (getrusage(RUSAGE_CHILDREN)).
 */
#define _GNU_SOURCE 1 /* RUSAGE_THREAD */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

/* The child's work: spin in user code until its own CPU clock says ms. */
__attribute__((noinline)) static void child_burn(long ms)
{
	struct timespec ts;
	unsigned long x = (unsigned long)getpid();
	for (;;) {
		for (int i = 0; i < 200000; i++)
			x = x * 6364136223846793005ul + 1442695040888963407ul;
		sink = x;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		if (ts.tv_sec * 1000 + ts.tv_nsec / 1000000 >= ms)
			return;
	}
}

/* The child's own account: its main thread's CPU time (what a profiler of
 * the program should see), written before it leaves (no stdio: _exit). */
static void report_child(void)
{
	struct rusage ru;
	char line[80];
	getrusage(RUSAGE_THREAD, &ru);
	int n = snprintf(line, sizeof(line), "thread_us %d %lld %lld\n", (int)getpid(),
			 (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
			 (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
	if (write(1, line, (size_t)n) != n)
		_exit(3);
}

static int run_child(long ms, int how)
{
	child_burn(ms);
	report_child();
	if (how == 1)
		_exit(0);
	if (how == 0)
		exit(0);
	return 0; /* main returns */
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "burn")) {
		child_burn(atol(argv[2]));
		return 0;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: forker N MIN_MS MAX_MS [PARALLEL [exit|_exit|return|mix]]\n");
		return 2;
	}
	int n = atoi(argv[1]);
	long lo = atol(argv[2]), hi = atol(argv[3]);
	int par = argc > 4 ? atoi(argv[4]) : 1;
	const char *how = argc > 5 ? argv[5] : "mix";
	int fixed = !strcmp(how, "exit") ? 0 : !strcmp(how, "_exit") ? 1
		    : !strcmp(how, "return")	  ? 2
						  : -1;
	if (par < 1)
		par = 1;
	srand(12345);
	int running = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("parent %d\n", (int)getpid());
	for (int i = 0; i < n; i++) {
		while (running >= par) {
			if (wait(NULL) > 0)
				running--;
		}
		long ms = lo + (hi > lo ? rand() % (hi - lo + 1) : 0);
		int h = fixed >= 0 ? fixed : i % 3;
		fflush(stdout);
		pid_t p = fork();
		if (p < 0) {
			perror("fork");
			return 1;
		}
		if (p == 0)
			return run_child(ms, h);
		printf("child %d\n", (int)p);
		running++;
	}
	while (running > 0 && wait(NULL) > 0)
		running--;
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("cpu_us %lld %lld\n", (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
	       (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
	return 0;
}
