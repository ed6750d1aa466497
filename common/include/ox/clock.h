/*
 * clock.h - the time as a number of milliseconds, for every part of oxprof.
 * Both read clock_gettime(2) and nothing else, so both are
 * async-signal-safe and take no lock: the agent may use them anywhere.
 */
#ifndef OX_CLOCK_H
#define OX_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in ms: for deadlines, timers and backoff. */
uint64_t ox_mono_ms(void);
/* Unix time (CLOCK_REALTIME) in ms: for times a person or a file reads. */
uint64_t ox_wall_ms(void);

#endif
