/*
 * engine.h - a sampling engine: what makes one thread's samples fire.  One
 * file per mechanism: engine-perf.c (perf_event task-clock), engine-timer.c
 * (POSIX timers on the thread's CPU clock or on CLOCK_MONOTONIC).  The rest
 * of the sampler sees only this interface and engine.c's dispatch, so a
 * new engine lands beside them with an entry in engine.c's table.
 *
 * Process-wide start and stop are the same for every engine: sampler.c
 * arms or disarms each thread of the registry (threads.c) with the
 * engine picked at arm time.  Everything here runs under the control lock
 * in normal context, except `signalled`, which the handler calls.
 */
#ifndef OXA_ENGINE_H
#define OXA_ENGINE_H

#include <stddef.h>
#include <time.h>
#include <sys/types.h>

#include "sampler_int.h"

struct oxa__engine {
	int source;          /* enum oxa_source */
	/* Can it sample this process now?  0, or -errno with note filled in;
	 * the caller falls back to another engine.  NULL: always. */
	int (*check)(char *note, size_t len);
	/* Make thread tid (slot th, index idx) signal hz times a second of
	 * its clock, the first after a random phase; th->armed is stored
	 * once its signals are ours to take.  0 or -errno, nothing left open
	 * on failure. */
	int (*thread_start)(struct oxa__thread *th, unsigned idx, pid_t tid, unsigned hz);
	/* Stop th's signals (th->armed is already 0).  No-op on a slot that
	 * holds nothing of this engine's. */
	void (*thread_stop)(struct oxa__thread *th);
	/* Start th's signals again after thread_stop, on th's own thread
	 * (a failed exec).  Async-signal-safe.  NULL: not possible. */
	void (*thread_resume)(struct oxa__thread *th);
	/* Release what thread_start made; no handler uses the slot any more.
	 * No-op on a slot that holds nothing of this engine's. */
	void (*thread_end)(struct oxa__thread *th);
	/* In the handler, after a sample was taken on th: what the engine
	 * needs to go on firing.  Async-signal-safe.  NULL: nothing. */
	void (*signalled)(struct oxa__thread *th);
	/* The clock th's achieved rate is measured on. */
	clockid_t (*clock)(pid_t tid);
};

extern const struct oxa__engine oxa__engine_perf;       /* engine-perf.c */
extern const struct oxa__engine oxa__engine_cpu_timer;  /* engine-timer.c */
extern const struct oxa__engine oxa__engine_wall_timer; /* engine-timer.c */

/* engine-perf.c: can a perf event (counting system time when kernel) be
 * opened on the calling thread?  0, or -errno with note filled when
 * note is not NULL. */
int oxa__perf_probe(int kernel, char *note, size_t len);

/* engine.c */
/* The engine of a source, NULL for none.  Async-signal-safe. */
const struct oxa__engine *oxa__engine_of(int source);
/* The source for a new arm in mode (enum oxp_mode); oxa__s.note says why
 * when it is not the first choice. */
int oxa__source_pick(int mode);
/* Arm slot idx with source, falling back to the cpu timer for a thread
 * whose perf event cannot be opened.  0 or -errno (-ESRCH: gone). */
int oxa__source_open(struct oxa__thread *th, unsigned idx, int source, unsigned hz);
/* Stop new signals: the handler sees armed == 0 from here on. */
void oxa__source_stop(struct oxa__thread *th);
/* Release what oxa__source_stop stopped, once no handler uses the slot. */
void oxa__source_close(struct oxa__thread *th);
/* A first period in [1, period] ns, uniform. */
uint64_t oxa__random_phase(uint64_t period);
clockid_t oxa__thread_cpu_clock(pid_t tid);
int64_t oxa__clock_ns(clockid_t c);

#endif
