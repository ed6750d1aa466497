/*
 * split.c - a test program with a known split of CPU time: hot_a 60 %,
 * hot_b 30 %, hot_c 10 % (iteration counts 6:3:1 of the same loop).
 *
 * split [-t THREADS] [-n ROUNDS] [-f] [-d MS] [-x] [-e CODE] [-s MS]
 *   -t  worker threads (default 1: the main thread works)
 *   -n  rounds per thread (default 3000)
 *   -f  fork a child that does the same work, wait for it
 *   -d  sleep MS milliseconds before anything else (a server that forks its
 *       workers once it is up: the agent has joined the fleet by then)
 *   -x  exec /bin/sh running a CPU loop after the work (exec must not kill)
 *   -e  exit with CODE
 *   -s  one extra thread sleeps in nanosleep for MS milliseconds (wall mode)
 * Prints "pid=P child=C" so tests can tell processes apart.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINL __attribute__((noinline, noipa))

/* The same loop in each leaf, so the split is set by the counts alone. */
#define SPIN(n, x)                                       \
	for (uint64_t i = 0; i < (n); i++) {             \
		x ^= x << 13;                            \
		x ^= x >> 7;                             \
		x ^= x << 17;                            \
		__asm__ volatile("" : "+r"(x));          \
	}

NOINL uint64_t hot_a(uint64_t x) { SPIN(6000, x); return x; }
NOINL uint64_t hot_b(uint64_t x) { SPIN(3000, x); return x; }
NOINL uint64_t hot_c(uint64_t x) { SPIN(1000, x); return x; }

static long rounds = 3000;

static NOINL void *work(void *arg)
{
	uint64_t x = (uintptr_t)arg | 1;
	for (long r = 0; r < rounds; r++)
		x = hot_c(hot_b(hot_a(x)));
	return (void *)(uintptr_t)(x & 1);
}

/* Sleeps ms in all, going back to sleep when a signal cuts it short, as
 * robust code does (wall-mode sampling interrupts nanosleep). */
static void *sleeper(void *arg)
{
	long ms = (long)(intptr_t)arg;
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 1, do_fork = 0, do_exec = 0, code = 0, opt;
	long sleep_ms = 0, delay_ms = 0;
	while ((opt = getopt(argc, argv, "t:n:fd:xe:s:")) != -1) {
		switch (opt) {
		case 't': threads = atoi(optarg); break;
		case 'n': rounds = atol(optarg); break;
		case 'f': do_fork = 1; break;
		case 'x': do_exec = 1; break;
		case 'e': code = atoi(optarg); break;
		case 's': sleep_ms = atol(optarg); break;
		case 'd': delay_ms = atol(optarg); break;
		default: return 2;
		}
	}
	if (delay_ms) {
		struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000 };
		while (nanosleep(&ts, &ts) < 0)
			;
	}
	pid_t child = 0;
	if (do_fork && (child = fork()) == 0) {
		work((void *)2);
		exit(0); /* not _exit: the agent writes its profile at exit */
	}
	pthread_t st, th[64];
	if (sleep_ms)
		pthread_create(&st, NULL, sleeper, (void *)(intptr_t)sleep_ms);
	if (threads <= 1) {
		work((void *)1);
	} else {
		for (int i = 0; i < threads && i < 64; i++)
			pthread_create(&th[i], NULL, work, (void *)(uintptr_t)(i + 3));
		for (int i = 0; i < threads && i < 64; i++)
			pthread_join(th[i], NULL);
	}
	if (sleep_ms)
		pthread_join(st, NULL);
	if (child > 0)
		waitpid(child, NULL, 0);
	printf("pid=%d child=%d\n", (int)getpid(), (int)child);
	fflush(stdout);
	if (do_exec)
		execl("/bin/sh", "sh", "-c", "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done", (char *)NULL);
	return code;
}
