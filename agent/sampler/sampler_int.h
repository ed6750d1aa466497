/*
 * sampler_int.h - state shared by the sampling core's files (sampler.c,
 * sighandler.c, engine*.c, threads.c, unwind.c, interpose.c, ring.c); the
 * engines' interface is engine.h.
 * Nothing here leaves the agent; every non-static name is hidden by
 * -fvisibility=hidden and carries the oxa__ prefix.
 *
 * Concurrency contract, in one place:
 *  - oxa__s.lock (the control lock) serialises every control operation:
 *    init, arm, disarm, stats, tick, thread start/exit, exclude, fork.
 *    The signal handler never takes it.
 *  - A thread slot (struct oxa__thread) is written under the control lock.
 *    The handler reads it lock-free; the fields it reads are atomics.  The
 *    handler sets slot->busy while it uses the slot; a disarm clears
 *    slot->armed, then waits for busy to drop before closing the fd or
 *    deleting the timer (a seq_cst store/load pair on both sides, so either
 *    the handler sees armed == 0 or the disarm sees busy == 1).
 *  - Per-slot counters are written only by the handler on the slot's own
 *    thread (relaxed atomics) and read by stats under the lock.
 */
#ifndef OXA_SAMPLER_INT_H
#define OXA_SAMPLER_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>

#include "ring.h"
#include "sampler.h"

#define OXA_INTERPOSE __attribute__((visibility("default")))
#define OXA_TLS __thread __attribute__((tls_model("initial-exec")))

/* Threads the registry can follow at once; the table is static (BSS), so it
 * is never freed under a late signal. */
#define OXA_MAX_THREADS 4096
/* Frames the handler's own call chain adds above the interrupted one. */
#define OXA_HANDLER_FRAMES 16
/* A ring record's first word: thread state (bits 0-7), system call
 * (bits 8-23), and this bit for a sample taken in a system call. */
#define OXA_META_KERNEL (1ull << 24)
/* Timer cookies carry this tag in their top 32 bits (see engine-timer.c). */
#define OXA_TIMER_MAGIC 0x0a5a11e5u

struct oxa__thread {
	_Atomic int tid;     /* 0: free slot */
	_Atomic int armed;   /* source open and firing */
	_Atomic int busy;    /* the handler is using this slot */
	_Atomic int fd;      /* perf event, or -1 */
	_Atomic int old_fd;  /* the last perf event closed: its late signals
				are stale, not the host's */
	_Atomic int freerun; /* perf event runs without a refresh limit */
	_Atomic int phase;   /* perf event still in its random first period */
	_Atomic uint64_t period; /* perf: the period asked for, ns */
	_Atomic uint64_t cookie; /* timer: value carried by its signals */
	timer_t timer;
	int has_timer;
	int source;          /* enum oxa_source of this slot while armed */
	int excluded;        /* the agent's own thread: never armed */
	int blocked;         /* had the signal blocked when last looked at */
	int trampoline;      /* started through our pthread_create */
	int kernel;          /* its source counts system time too: a sample
				after a system call is marked (sighandler.c) */
	uint16_t gen;        /* bumped at every arm, part of the cookie */
	clockid_t clock;     /* thread CPU clock (cpu) or CLOCK_MONOTONIC */
	int64_t t0_ns;       /* clock reading when armed */
	_Atomic uint64_t delivered; /* our signals accepted since armed */
	_Atomic uint64_t taken, skipped, unwind_fail; /* cumulative */
};

/* Thread-local state; initial-exec so the handler never calls
 * __tls_get_addr (which may allocate for a dlopen'ed module). */
struct oxa__tls {
	int guard;     /* in our handler: recursion guard and malloc test hook */
	int tid;       /* cached gettid(), 0 unknown; reset in a fork child */
	int slot;      /* index + 1 of this thread's slot, 0 unknown */
	int in_dl;     /* inside dlopen/dlclose (interpose.c) */
	int in_fork;   /* inside fork (interpose.c) */
	int excluded;  /* oxa_sampler_exclude_self was called here */
};
extern OXA_TLS struct oxa__tls oxa__tls;

struct oxa__state {
	pthread_mutex_t lock;
	int inited;
	int disabled;          /* no usable signal: why says so */
	pid_t pid;             /* process the registry describes */
	int signo;
	/* The host's view of our signal: what we replaced at init (SIG_DFL
	 * or SIG_IGN), then whatever the host installs through our sigaction,
	 * signal, sigset... interposers (interpose.c).  The handler forwards
	 * foreign signals to it.  Written under host_lock with every signal
	 * blocked (so a handler never waits on its own thread), read by the
	 * handler as a seqlock (host_seq odd while a write is under way). */
	struct sigaction host;
	_Atomic unsigned host_seq;
	atomic_flag host_lock;
	_Atomic int host_took; /* the host installed a handler of its own */
	int moved_from;        /* the host took this signal behind libc's
				  back: we moved to signo */
	int lost;              /* ... and no signal was free: no sampling */
	struct oxa_ring *ring;
	_Atomic int armed;     /* process-wide: new threads arm themselves */
	int mode, source;
	unsigned hz, depth_req;
	_Atomic unsigned depth;
	_Atomic unsigned hiwater;  /* slots in use are below this index */
	uintptr_t ldso_lo, ldso_hi; /* text of the dynamic loader */
	pthread_key_t key;     /* destructor releases trampoline threads */
	/* Totals of released slots (under the lock). */
	uint64_t ret_taken, ret_skipped, ret_unwind_fail;
	uint64_t win_delivered;    /* released slots, this arm window */
	double win_seconds;
	double last_hz;            /* achieved rate at the last disarm */
	/* System time (engine.c, oxa__source_pick): kernel_opt is
	 * OXPROF_KERNEL (enum oxa_kernel_opt), perf_kernel says whether perf
	 * events of this arm count system time (exclude_kernel == 0). */
	int kernel_opt, perf_kernel;
	/* Of win_seconds, the CPU-seconds of slots whose source counts user
	 * time only; the rate counts only their user share (rate_locked). */
	double win_seconds_u;
	/* The process's CPU time (getrusage) at the last arm, and what it
	 * spent while armed before that, us. */
	uint64_t arm_user_us, arm_sys_us, acc_user_us, acc_sys_us;
	unsigned ticks;
	_Atomic uint64_t foreign, stale, nested;
	char why[128];
	char note[96];
};
extern struct oxa__state oxa__s;
extern struct oxa__thread oxa__threads[OXA_MAX_THREADS];
/* Test hook: called from inside the handler with the guard set. */
extern void (*volatile oxa__test_hook)(void);

/* sighandler.c */
void oxa__handler(int sig, siginfo_t *si, void *uc);
int oxa__gettid(void);

/* interpose.c */
int oxa__real_sigaction(int sig, const struct sigaction *act,
			struct sigaction *old);
void oxa__interpose_init(void);
/* The host's action for our signal, as a consistent copy.
 * Async-signal-safe (a seqlock read: never waits on this thread). */
void oxa__host_get(struct sigaction *out);
/* Replace the host's action for our signal.  Async-signal-safe: the lock
 * is held with every signal blocked, so a handler only ever waits for
 * another thread's few instructions (the SA_RESETHAND case). */
void oxa__host_set(const struct sigaction *act);
/* Install our handler for sig, with the host's mask and SA_ONSTACK. */
int oxa__install(int sig, const struct sigaction *host);
/* Make sig the agent's signal, host the host's action for it. */
void oxa__host_switch(int sig, const struct sigaction *host);

/* unwind.c */
int oxa__unwind_init(void);
int oxa__unwind(const void *uc, uintptr_t *out, unsigned depth);
int oxa__in_loader(uintptr_t pc);

/* text.c */
void oxa__text_refresh(void);
int oxa__text_has(uintptr_t pc, uintptr_t before);

/* threads.c */
int oxa__threads_init(void);
int oxa__slot_arm(unsigned idx);
void oxa__slot_disarm(unsigned idx);
void oxa__slot_release(unsigned idx);
int oxa__threads_scan(void);
void oxa__threads_reap(void);
void oxa__threads_forget(void);

#endif
