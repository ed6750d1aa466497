/*
 * linked.c - a program linked with liboxprof that drives the public API:
 * start stand-alone and paused, unpause around some work, check status,
 * dump folded stacks to stdout, stop.  Exits non-zero on any surprise.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "oxprof.h"

__attribute__((noinline, noipa)) uint64_t linked_hot(uint64_t n)
{
	uint64_t x = 88172645463325252ull;
	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

#define CHECK(c)                                                         \
	do {                                                             \
		if (!(c)) {                                              \
			fprintf(stderr, "linked: %s failed\n", #c);      \
			return 1;                                        \
		}                                                        \
	} while (0)

int main(void)
{
	struct oxprof_options o = { .hz = 1000, .no_daemon = 1 };
	struct oxprof_status st;
	CHECK(oxprof_start(&o) == 0);
	CHECK(oxprof_status(&st) == 0 && !st.running && !st.connected);
	uint64_t x = linked_hot(20000000); /* paused: no samples */
	CHECK(oxprof_status(&st) == 0 && st.taken == 0);
	CHECK(oxprof_unpause() == 0);
	CHECK(oxprof_status(&st) == 0 && st.running && st.hz_requested == 1000);
	x ^= linked_hot(400000000);
	CHECK(oxprof_pause() == 0);
	CHECK(oxprof_status(&st) == 0 && !st.running && st.taken > 100);
	fprintf(stderr, "linked: %llu samples, source %s\n", (unsigned long long)st.taken, st.source);
	CHECK(oxprof_dump_folded(1) == 0);
	CHECK(oxprof_stop() == 0);
	CHECK(oxprof_pause() < 0); /* stopped: nothing to pause */
	return x == 42; /* keep the work */
}
