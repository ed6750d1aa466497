/*
 * sampler.h - the agent's sampling core: signal handler, per-thread
 * sampling sources, thread tracking, the preallocated sample ring.
 *
 * Threads: oxa_sampler_* functions other than oxa_sampler_pop may be called
 * from any ordinary thread (they serialise on an internal control lock that
 * the signal handler never takes).  oxa_sampler_pop is for the single drain
 * thread.  Nothing here is called from the signal handler except what
 * sighandler.c itself defines.
 */
#ifndef OXA_SAMPLER_H
#define OXA_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "oxp/protocol.h"

/*
 * The agent's limits are the protocol's (oxp/protocol.h): one set for the
 * agent, the daemon and oxprofctl.  A decoder refuses more, so only the C
 * API could ask for more; that is clamped and reported, never hidden
 * (drain/state.c: a log line, and the source string of its status).
 */
#define OXA_MAX_HZ ((unsigned)OXP_MAX_HZ)
#define OXA_MAX_DEPTH OXP_MAX_DEPTH
/* What an agent samples at when nothing says otherwise. */
#define OXA_DEFAULT_HZ 100u
#define OXA_DEFAULT_DEPTH 128u

/* Modes are the protocol's: enum oxp_mode (OXP_MODE_CPU, OXP_MODE_WALL). */

/* Which timer drives sampling. */
enum oxa_source {
	OXA_SOURCE_NONE = 0,
	OXA_SOURCE_PERF_TASK_CLOCK, /* cpu: perf_event_open task-clock, hrtimer */
	OXA_SOURCE_CPU_TIMER,       /* cpu fallback: CLOCK_THREAD_CPUTIME_ID, tick-bound */
	OXA_SOURCE_WALL_TIMER,      /* wall: CLOCK_MONOTONIC per thread */
};

/* OXPROF_KERNEL: whether cpu mode samples system time too. */
enum oxa_kernel_opt {
	OXA_KERNEL_AUTO = 0, /* yes where the rate asked for allows it */
	OXA_KERNEL_OFF,      /* "0": user time only (perf's :u) */
	OXA_KERNEL_ON,       /* "1": always, even at the cpu-timer's rate */
};

/* The leaf an agent adds to a sample taken on the way back from a system
 * call: no user pc is ever this; frames.c names it "[kernel]". */
#define OXA_PC_KERNEL ((uintptr_t)-1)

struct oxa_sampler_config {
	size_t ring_slots;   /* samples the ring holds; 0 = default (16384) */
	int signo;           /* 0 = default (SIGPROF, or a free real-time signal) */
};

/* One sample as the drain thread sees it. */
struct oxa_sample {
	uint32_t tid;
	uint8_t state;        /* 0 running, 1 blocked (wall mode only) */
	uint16_t nframes;     /* >= 1 */
	int16_t sysno;        /* wall, blocked: syscall number when known
				 (219 = restart_syscall: a sleep), else -1 */
	/* Leaf first; ips[0] is the interrupted pc, or OXA_PC_KERNEL above
	 * it when the sample was taken in a system call.  ips[1..] are return
	 * addresses minus one (inside the call instruction), so symbolise
	 * them as they are, without another -1. */
	uintptr_t ips[OXA_MAX_DEPTH];
};

struct oxa_sampler_stats {
	uint64_t taken;        /* samples written to the ring */
	uint64_t dropped;      /* samples lost because the ring was full */
	uint64_t skipped;      /* signals in loader/dlopen/fork: not unwound */
	uint64_t unwind_fail;  /* unwinds that produced no frame */
	uint64_t foreign;      /* signals forwarded to the host's handler */
	double achieved_hz;    /* samples per CPU-second (cpu) or per
				  thread-second (wall) while armed */
	int source;            /* enum oxa_source in use, NONE when paused */
	int signo;
	char why[128];         /* when sampling is impossible: the reason */
	/* Additions (sampling core). */
	uint64_t stale;        /* our signals that arrived after a disarm */
	unsigned threads;      /* threads the registry follows */
	unsigned threads_armed;
	unsigned threads_blocked; /* left alone: they block our signal */
	int host_handler;      /* the host installed its own handler for
				  our signal after init: we forward its
				  signals to it */
	int moved_from;        /* the host took this signal without libc:
				  we moved from it to signo */
	char note[96];         /* about the source, e.g. the cpu-timer's
				  tick-bound limit and why it is in use */
	int covers_system;     /* the source counts system time too (and
				  samples in system calls get a [kernel]
				  leaf); 0: user time only */
	/* The process's CPU time (getrusage RUSAGE_SELF), us: all of it, and
	 * what it spent while sampling was armed, cumulative. */
	uint64_t cpu_user_us, cpu_sys_us;
	uint64_t armed_user_us, armed_sys_us;
};

/* Install the handler and allocate the ring; nothing is armed.  0 or -errno
 * (with why filled by oxa_sampler_stats) when this process cannot be
 * sampled, e.g. the host owns every candidate signal (-EBUSY).  When
 * cfg->signo is 0, OXPROF_SIGNAL (SIGPROF, RTMIN+3, RTMAX-1, 40...) is read;
 * OXPROF_SOURCE=timer forces the cpu-timer fallback at arm time.  Calling
 * it again after success is a no-op. */
int oxa_sampler_init(const struct oxa_sampler_config *cfg);
/* Arm every thread of the process, existing and future, except threads
 * marked with oxa_sampler_exclude_self.  Re-arming with new parameters is
 * allowed.  mode: enum oxp_mode; hz 1..OXA_MAX_HZ (-EINVAL outside); depth
 * 0 = OXA_DEFAULT_DEPTH, capped at OXA_MAX_DEPTH.  -ENODEV before init, -EBUSY when init failed. */
int oxa_sampler_arm(int mode, unsigned hz, unsigned depth);
/* Disarm every thread: no timer left, no signal will be delivered.  Waits
 * for handlers in progress to finish. */
int oxa_sampler_disarm(void);
int oxa_sampler_armed(void);
/* Pop one sample: 1 got one, 0 empty.  Single consumer. */
int oxa_sampler_pop(struct oxa_sample *out);
void oxa_sampler_stats(struct oxa_sampler_stats *st);
/* Housekeeping, called by the drain thread every ~100 ms: release the
 * sampling resources of threads that exited without passing through our
 * pthread_create trampoline, refresh the achieved rate. */
void oxa_sampler_tick(void);
/* Around an exec on the calling thread (host/exec.c): a source that
 * counts system time would fire inside execve, and its signal, still
 * pending, would kill the new image (SIG_DFL).  hold stops the calling
 * thread's own source - the other threads die in execve - and returns 1
 * when it did; release starts it again after a failed exec.  Lock-free
 * and async-signal-safe (exec may be called in a fork child of a threaded
 * host; in a vfork child the thread is not ours and nothing happens). */
int oxa_sampler_exec_hold(void);
void oxa_sampler_exec_release(void);
/* The calling thread (the agent's own) is never sampled. */
void oxa_sampler_exclude_self(void);
/* In a fork child, before anything else: forget the parent's threads and
 * timers (they do not exist here); keep the ring and handler.  The caller
 * re-arms if the fleet is running. */
void oxa_sampler_atfork_child(void);
/* Disarm, give the signal back to the host's action and free the ring.
 * For tests, which own every thread of their process: the agent itself
 * never calls it.  At oxprof_stop and at exit it only disarms (api.c) and
 * keeps its handler and ring, because the host's threads run on and a
 * handler already past its checks may still write to the ring; a later
 * oxprof_start re-arms the same sampler. */
void oxa_sampler_shutdown(void);
const char *oxa_source_name(int source);
/* What status shows as the source: why sampling is impossible, else the
 * source's name, and the signal when a host handler shares it, e.g.
 * "perf-task-clock, SIGPROF (shared with the host's handler)". */
void oxa_sampler_describe(const struct oxa_sampler_stats *st, int source,
			  char *buf, size_t len);

#endif
