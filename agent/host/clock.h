/* clock.h - the agent's monotonic milliseconds, for timers and backoff. */
#ifndef OXA_CLOCK_H
#define OXA_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t oxa_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif
