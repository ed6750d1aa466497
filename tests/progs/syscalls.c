/*
 * syscalls.c - a test program that spends about half its CPU time in
 * system calls: rounds of a user-space loop (user_work) and of getppid()
 * calls (sys_work), or small writes to /dev/null with -w.
 *
 * syscalls [-c CPU_MS] [-w] [-u PERCENT]
 *   -c  stop after this much CPU time of the process (default 2000 ms):
 *       CPU time, not wall time, so a busy machine changes nothing
 *   -w  write(2) one byte to /dev/null instead of getppid()
 *   -u  rounds of user work per 100 rounds (default 50)
 * Prints "pid=P" first, and at the end its own CPU time as the kernel
 * counts it: "user_ms=U sys_ms=S".
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define NOINL __attribute__((noinline, noipa))

static int devnull = -1;

NOINL uint64_t user_work(uint64_t x)
{
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

NOINL long sys_work(int w)
{
	long s = 0;
	for (int i = 0; i < 200; i++)
		s += w ? (long)write(devnull, "x", 1) : (long)getppid();
	return s;
}

static long cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	long limit = 2000;
	int w = 0, upct = 50, c;
	while ((c = getopt(argc, argv, "c:wu:")) != -1) {
		if (c == 'c')
			limit = atol(optarg);
		else if (c == 'w')
			w = 1;
		else if (c == 'u')
			upct = atoi(optarg);
		else
			return 2;
	}
	if (w && (devnull = open("/dev/null", O_WRONLY)) < 0)
		return 1;
	printf("pid=%d\n", (int)getpid());
	fflush(stdout);
	uint64_t x = 1;
	long s = 0;
	for (unsigned r = 0; cpu_ms() < limit; r++) {
		if ((int)(r % 100) < upct)
			x = user_work(x);
		else
			s += sys_work(w);
	}
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("user_ms=%ld sys_ms=%ld x=%lu s=%ld\n",
	       ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000,
	       ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000,
	       (unsigned long)(x & 1), s & 1);
	return 0;
}
