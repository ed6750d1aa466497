/*
 * shortthreads.c - many short-lived threads, each burning a fixed amount of
 * its own CPU in short_burn(), for the agent's per-thread costs.
 *
 * shortthreads [-n THREADS] [-u MICROSECONDS] [-j PARALLEL]
 *   -n  threads to create in all (default 4000)
 *   -u  CPU each thread burns in short_burn (default 300 us; 0: none)
 *   -j  threads alive at once (default 1: create, join, next)
 * Prints "threads=N burn_cpu=SECONDS": the thread CPU time measured around
 * every short_burn call, summed, so a test can compare it with samples.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NOINL __attribute__((noinline, noipa))

static uint64_t iters; /* short_burn iterations per thread */
static _Atomic uint64_t burn_ns;

NOINL uint64_t short_burn(uint64_t n, uint64_t x)
{
	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

static int64_t thread_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg)
{
	if (!iters)
		return NULL;
	int64_t t0 = thread_ns();
	uint64_t x = short_burn(iters, (uintptr_t)arg | 1);
	burn_ns += (uint64_t)(thread_ns() - t0);
	return (void *)(uintptr_t)(x & 1);
}

/* Iterations per microsecond, from a 50 ms run in the main thread. */
static double calibrate(void)
{
	uint64_t n = 1000;
	for (;;) {
		int64_t t0 = thread_ns();
		short_burn(n, 7);
		int64_t d = thread_ns() - t0;
		if (d > 50000000)
			return (double)n / ((double)d / 1000.0);
		n *= 2;
	}
}

int main(int argc, char **argv)
{
	long n = 4000, us = 300, par = 1;
	int opt;
	while ((opt = getopt(argc, argv, "n:u:j:")) != -1) {
		switch (opt) {
		case 'n': n = atol(optarg); break;
		case 'u': us = atol(optarg); break;
		case 'j': par = atol(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-n N] [-u US] [-j PAR]\n", argv[0]);
			return 2;
		}
	}
	if (par < 1 || par > 64)
		par = 1;
	if (us > 0) {
		iters = (uint64_t)(calibrate() * (double)us);
		if (!iters)
			iters = 1;
	}
	pthread_t t[64];
	for (long i = 0; i < n; i += par) {
		long k = n - i < par ? n - i : par;
		for (long j = 0; j < k; j++)
			if (pthread_create(&t[j], NULL, worker, (void *)(intptr_t)(i + j)) != 0) {
				perror("pthread_create");
				return 1;
			}
		for (long j = 0; j < k; j++)
			pthread_join(t[j], NULL);
	}
	printf("threads=%ld burn_cpu=%.6f\n", n, (double)burn_ns / 1e9);
	return 0;
}
