/* clock.c - the daemon's one wall clock. */
#include "clock.h"

#include <time.h>

uint64_t oxd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
