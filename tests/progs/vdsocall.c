/*
 * vdsocall.c - calls clock_gettime in a tight loop: with a vDSO clock
 * source nearly all its samples are in the vDSO.
 *
 * vdsocall [-n CALLS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	long calls = argc > 2 ? atol(argv[2]) : 20000000;
	struct timespec ts;
	long long sum = 0;
	for (long i = 0; i < calls; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sum += ts.tv_nsec & 1;
	}
	printf("vdsocall: %lld\n", sum);
	return 0;
}
