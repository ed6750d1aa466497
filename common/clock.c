/* clock.c - milliseconds from clock_gettime(2); see ox/clock.h. */
#include "ox/clock.h"

#include <time.h>

static uint64_t ms(clockid_t c)
{
	struct timespec ts;
	/* Cannot fail for these two clocks with a valid pointer. */
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t ox_mono_ms(void)
{
	return ms(CLOCK_MONOTONIC);
}

uint64_t ox_wall_ms(void)
{
	return ms(CLOCK_REALTIME);
}
