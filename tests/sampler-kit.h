/*
 * sampler-kit.h - what the cases of test-agent-sampler* share: CPU work of
 * a known shape (leaves in their own sections), clocks, and the collector
 * thread that pops samples from the ring into recs[].
 */
#ifndef OXT_SAMPLER_KIT_H
#define OXT_SAMPLER_KIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Allocations seen inside the signal handler (malloc is interposed). */
extern atomic_int bad_allocs;

/* The 6:3:1 split of leaves a, b, c through a middle frame. */
void mid_round(unsigned k);
int64_t now_ns(clockid_t c);
/* Burn this thread's CPU for about ms milliseconds of its own CPU time;
 * returns the CPU nanoseconds actually used. */
int64_t burn_ms(int ms);
void sleep_ms(int ms);
pid_t my_tid(void);

#define MAXREC 400000
struct rec {
	uint32_t tid;
	uint8_t state;
	uint8_t leaf;   /* 1 a, 2 b, 3 c, 0 other */
	uint8_t chain;  /* the mid frame is among the callers */
	uint16_t nframes;
};
extern struct rec recs[MAXREC];
extern atomic_long nrec;
extern atomic_int coll_tid;

void drain_all(void);
void collector_start(void);
void collector_stop(void);
long count_tid(pid_t tid);
void init_or_die(void);

/* Threads that wait for go, then burn ms of their CPU. */
extern atomic_int go;
struct burner {
	pthread_t t;
	int ms;
	pid_t tid;
	int64_t cpu;
};
void *burner_main(void *arg);

/* The perf_event fds and POSIX timers this process holds. */
int count_perf_fds(void);
int count_posix_timers(void);

#endif
