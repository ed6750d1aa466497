/*
 * sampler.c - the control side of the sampling core: init, arm, disarm,
 * stats, housekeeping, fork and shutdown.  Every entry point takes the
 * control lock; none runs in signal context.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine.h"

#define OXA_DEFAULT_SLOTS 16384u
/* Ring words per configured sample slot: room for a 30-frame stack. */
#define OXA_WORDS_PER_SLOT 32u

struct oxa__state oxa__s = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

const char *oxa_source_name(int source)
{
	switch (source) {
	case OXA_SOURCE_PERF_TASK_CLOCK:
		return "perf-task-clock";
	case OXA_SOURCE_CPU_TIMER:
		return "cpu-timer";
	case OXA_SOURCE_WALL_TIMER:
		return "wall-timer";
	default:
		return "none";
	}
}

/* "SIGPROF", "SIGRTMIN+3", or the number. */
static void signal_name(int s, char *buf, size_t len)
{
	if (s == SIGPROF)
		snprintf(buf, len, "SIGPROF");
	else if (s >= SIGRTMIN && s <= SIGRTMAX)
		snprintf(buf, len, "SIGRTMIN+%d", s - SIGRTMIN);
	else
		snprintf(buf, len, "SIG%s", sigabbrev_np(s) ? sigabbrev_np(s) : "?");
}

void oxa_sampler_describe(const struct oxa_sampler_stats *st, int source,
			  char *buf, size_t len)
{
	if (st->why[0]) {
		snprintf(buf, len, "%s", st->why);
		return;
	}
	char sig[24], from[24];
	signal_name(st->signo, sig, sizeof(sig));
	if (st->moved_from) {
		signal_name(st->moved_from, from, sizeof(from));
		snprintf(buf, len, "%s, %s (host took %s)",
			 oxa_source_name(source), sig, from);
	} else if (st->host_handler) {
		snprintf(buf, len, "%s, %s (shared with the host's handler)",
			 oxa_source_name(source), sig);
	} else {
		snprintf(buf, len, "%s", oxa_source_name(source));
	}
}

/* Signals whose default action is to terminate: forwarding a foreign one
 * to SIG_DFL is then simple (sighandler.c).  Others are refused. */
static int signal_allowed(int s)
{
	return s == SIGPROF || s == SIGVTALRM || s == SIGALRM ||
	       s == SIGUSR1 || s == SIGUSR2 || (s >= SIGRTMIN && s <= SIGRTMAX);
}

/* "SIGPROF", "PROF", "SIGRTMIN+3", "RTMAX-2" or a number; 0 if bad. */
static int parse_signal(const char *v)
{
	static const struct { const char *n; int s; } names[] = {
		{ "PROF", SIGPROF }, { "VTALRM", SIGVTALRM },
		{ "ALRM", SIGALRM }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	};
	char *end;
	if (strncmp(v, "SIG", 3) == 0)
		v += 3;
	if (*v >= '0' && *v <= '9') {
		long n = strtol(v, &end, 10);
		return *end == 0 && n > 0 && n < 65 ? (int)n : 0;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i].n) == 0)
			return names[i].s;
	int base = strncmp(v, "RTMIN", 5) == 0 ? SIGRTMIN :
		   strncmp(v, "RTMAX", 5) == 0 ? SIGRTMAX : 0;
	if (!base)
		return 0;
	if (v[5] == 0)
		return base;
	long off = strtol(v + 5, &end, 10);
	return *end == 0 ? base + (int)off : 0;
}

/* Free: no host handler (SIG_DFL or SIG_IGN) and not blocked here (a
 * blocked signal with no handler is how sigwait/signalfd users hold it).
 * The drain thread blocks everything: it asks with mask 0. */
static int signal_free_mask(int s, struct sigaction *old, int mask)
{
	if (oxa__real_sigaction(s, NULL, old) < 0)
		return 0;
	if (!(old->sa_flags & SA_SIGINFO) && (old->sa_handler == SIG_DFL ||
					      old->sa_handler == SIG_IGN)) {
		if (!mask)
			return 1;
		sigset_t cur;
		pthread_sigmask(SIG_BLOCK, NULL, &cur);
		return sigismember(&cur, s) != 1;
	}
	return 0;
}

static int signal_free(int s, struct sigaction *old)
{
	return signal_free_mask(s, old, 1);
}

/* Choose our signal: the configured one (must be free), else SIGPROF,
 * else the highest free real-time signal.  Returns it or -EBUSY/-EINVAL
 * with why filled. */
static int pick_signal(int want, struct sigaction *old)
{
	char *why = oxa__s.why;
	if (want) {
		if (!signal_allowed(want)) {
			snprintf(why, sizeof(oxa__s.why), "signal %d not usable "
				 "(want SIGPROF, SIGVTALRM, SIGALRM, SIGUSR1/2 or "
				 "a real-time signal)", want);
			return -EINVAL;
		}
		if (!signal_free(want, old)) {
			snprintf(why, sizeof(oxa__s.why), "signal %d (%s) is "
				 "owned by the host", want, strsignal(want));
			return -EBUSY;
		}
		return want;
	}
	if (signal_free(SIGPROF, old))
		return SIGPROF;
	for (int s = SIGRTMAX; s >= SIGRTMIN + 2; s--)
		if (signal_free(s, old))
			return s;
	snprintf(why, sizeof(oxa__s.why), "no free signal: the host owns "
		 "SIGPROF and every real-time signal");
	return -EBUSY;
}

static void atfork_prepare(void)
{
	pthread_mutex_lock(&oxa__s.lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&oxa__s.lock);
}

static void atfork_child(void)
{
	pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
	oxa__s.lock = fresh; /* another thread may have held it */
	/* Likewise the host-action lock: its holder is not in the child. */
	atomic_flag_clear(&oxa__s.host_lock);
	if (atomic_load(&oxa__s.host_seq) & 1)
		atomic_fetch_add(&oxa__s.host_seq, 1);
	oxa_sampler_atfork_child();
}

static int init_locked(const struct oxa_sampler_config *cfg)
{
	int want = cfg ? cfg->signo : 0;
	const char *env = secure_getenv("OXPROF_SIGNAL");
	if (!want && env && *env && !(want = parse_signal(env))) {
		snprintf(oxa__s.why, sizeof(oxa__s.why),
			 "OXPROF_SIGNAL=%.60s: not a signal", env);
		return -EINVAL;
	}
	struct sigaction old;
	int s = pick_signal(want, &old);
	if (s < 0)
		return s;
	size_t slots = cfg && cfg->ring_slots ? cfg->ring_slots :
						OXA_DEFAULT_SLOTS;
	struct oxa_ring *ring;
	int r = oxa_ring_new(&ring, slots * OXA_WORDS_PER_SLOT);
	if (r < 0) {
		snprintf(oxa__s.why, sizeof(oxa__s.why), "ring alloc failed");
		return r;
	}
	if ((r = oxa__threads_init()) < 0) {
		oxa_ring_free(ring);
		return r;
	}
	static int atfork_done;
	if (!atfork_done && pthread_atfork(atfork_prepare, atfork_parent,
					   atfork_child) == 0)
		atfork_done = 1;
	oxa__unwind_init();
	oxa__interpose_init();
	oxa__s.signo = s;
	oxa__host_set(&old);
	atomic_store(&oxa__s.host_took, 0);
	oxa__s.moved_from = 0;
	oxa__s.lost = 0;
	__atomic_store_n(&oxa__s.ring, ring, __ATOMIC_RELEASE);
	if ((r = oxa__install(s, NULL)) < 0) {
		__atomic_store_n(&oxa__s.ring, NULL, __ATOMIC_RELEASE);
		oxa_ring_free(ring);
		return r;
	}
	oxa__s.pid = getpid();
	oxa__s.why[0] = 0;
	return 0;
}

int oxa_sampler_init(const struct oxa_sampler_config *cfg)
{
	pthread_mutex_lock(&oxa__s.lock);
	int r = 0;
	if (!oxa__s.inited) {
		r = init_locked(cfg);
		oxa__s.disabled = r < 0;
		if (r == 0)
			__atomic_store_n(&oxa__s.inited, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&oxa__s.lock);
	return r;
}

/* The process's CPU time so far, us (getrusage: what /proc/PID/stat's
 * utime and stime say, at finer grain).  0 on failure. */
static void cpu_now(uint64_t *user, uint64_t *sys)
{
	struct rusage ru;
	*user = *sys = 0;
	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return;
	*user = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec;
	*sys = (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
}

/* Under the lock: the CPU time since the last arm, us. */
static void cpu_since_arm(uint64_t *user, uint64_t *sys)
{
	cpu_now(user, sys);
	*user = *user > oxa__s.arm_user_us ? *user - oxa__s.arm_user_us : 0;
	*sys = *sys > oxa__s.arm_sys_us ? *sys - oxa__s.arm_sys_us : 0;
}

/*
 * The CPU-seconds this window's samples stand for: all of secs for slots
 * whose source counts system time, only the user share of secs_u for the
 * others (user time only: the share is the process's since the arm, as a
 * thread's own split is not known without reading /proc per thread).
 */
static double covered_locked(double secs, double secs_u)
{
	if (secs_u <= 0)
		return secs;
	uint64_t u, k;
	cpu_since_arm(&u, &k);
	double share = u + k ? (double)u / (double)(u + k) : 1.0;
	return secs + secs_u * share;
}

/* Samples per covered CPU-second (cpu) or thread-second (wall) in this
 * window. */
static double rate_locked(void)
{
	double d = (double)oxa__s.win_delivered, secs = oxa__s.win_seconds;
	double secs_u = oxa__s.win_seconds_u;
	unsigned hw = atomic_load(&oxa__s.hiwater);
	for (unsigned i = 0; i < hw; i++) {
		struct oxa__thread *th = &oxa__threads[i];
		if (!atomic_load(&th->tid) || !atomic_load(&th->armed))
			continue;
		int64_t now = oxa__clock_ns(th->clock);
		if (now < 0 || now < th->t0_ns)
			continue;
		d += (double)atomic_load(&th->delivered);
		double t = (double)(now - th->t0_ns) / 1e9;
		secs += t;
		if (!th->kernel && oxa__s.mode == OXP_MODE_CPU)
			secs_u += t;
	}
	secs = covered_locked(secs - secs_u, secs_u);
	return secs > 0 ? d / secs : 0;
}

static void disarm_locked(void)
{
	if (!atomic_load(&oxa__s.armed))
		return;
	atomic_store(&oxa__s.armed, 0);
	unsigned hw = atomic_load(&oxa__s.hiwater);
	for (unsigned i = 0; i < hw; i++)
		if (atomic_load(&oxa__threads[i].tid))
			oxa__slot_disarm(i);
	double secs = covered_locked(oxa__s.win_seconds - oxa__s.win_seconds_u,
				     oxa__s.win_seconds_u);
	oxa__s.last_hz = secs > 0 ? (double)oxa__s.win_delivered / secs : 0;
	uint64_t u, k;
	cpu_since_arm(&u, &k);
	oxa__s.acc_user_us += u;
	oxa__s.acc_sys_us += k;
}

static void check_handler_locked(void);

int oxa_sampler_arm(int mode, unsigned hz, unsigned depth)
{
	if ((mode != OXP_MODE_CPU && mode != OXP_MODE_WALL) || hz < 1 ||
	    hz > OXA_MAX_HZ)
		return -EINVAL;
	if (depth == 0)
		depth = OXA_DEFAULT_DEPTH;
	if (depth > OXA_MAX_DEPTH)
		depth = OXA_MAX_DEPTH;
	pthread_mutex_lock(&oxa__s.lock);
	int r = 0;
	if (!oxa__s.inited || oxa__s.lost) {
		r = oxa__s.disabled || oxa__s.lost ? -EBUSY : -ENODEV;
		goto out;
	}
	check_handler_locked();
	disarm_locked();
	oxa__s.mode = mode;
	oxa__s.hz = hz;
	oxa__s.depth_req = depth;
	atomic_store(&oxa__s.depth, depth);
	oxa__s.source = oxa__source_pick(mode);
	oxa__s.win_delivered = 0;
	oxa__s.win_seconds = 0;
	oxa__s.win_seconds_u = 0;
	oxa__text_refresh();
	cpu_now(&oxa__s.arm_user_us, &oxa__s.arm_sys_us);
	atomic_store(&oxa__s.armed, 1);
	oxa__threads_reap();
	r = oxa__threads_scan();
out:
	pthread_mutex_unlock(&oxa__s.lock);
	return r;
}

int oxa_sampler_disarm(void)
{
	pthread_mutex_lock(&oxa__s.lock);
	disarm_locked();
	pthread_mutex_unlock(&oxa__s.lock);
	return 0;
}

int oxa_sampler_armed(void)
{
	return atomic_load(&oxa__s.armed);
}

int oxa_sampler_pop(struct oxa_sample *out)
{
	struct oxa_ring *r = __atomic_load_n(&oxa__s.ring, __ATOMIC_ACQUIRE);
	if (!r)
		return 0;
	uint64_t tag, buf[1 + OXA_MAX_DEPTH];
	size_t n = oxa_ring_pop(r, &tag, buf, 1 + OXA_MAX_DEPTH);
	if (n == 0)
		return 0;
	if (n > 1 + OXA_MAX_DEPTH)
		n = 1 + OXA_MAX_DEPTH;
	out->tid = (uint32_t)tag;
	out->state = (uint8_t)(buf[0] & 0xff);
	out->sysno = (int16_t)(uint16_t)(buf[0] >> 8);
	/* A sample in a system call gets a [kernel] leaf under the frame
	 * that made the call; a full stack loses its root-most frame. */
	size_t k = 0;
	if (buf[0] & OXA_META_KERNEL)
		out->ips[k++] = OXA_PC_KERNEL;
	for (size_t i = 1; i < n && k < OXA_MAX_DEPTH; i++)
		out->ips[k++] = (uintptr_t)buf[i];
	out->nframes = (uint16_t)k;
	return 1;
}

void oxa_sampler_stats(struct oxa_sampler_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&oxa__s.lock);
	st->taken = oxa__s.ret_taken;
	st->skipped = oxa__s.ret_skipped;
	st->unwind_fail = oxa__s.ret_unwind_fail;
	unsigned hw = atomic_load(&oxa__s.hiwater);
	for (unsigned i = 0; i < hw; i++) {
		struct oxa__thread *th = &oxa__threads[i];
		if (!atomic_load(&th->tid))
			continue;
		st->taken += atomic_load(&th->taken);
		st->skipped += atomic_load(&th->skipped);
		st->unwind_fail += atomic_load(&th->unwind_fail);
		st->threads++;
		st->threads_armed += atomic_load(&th->armed) != 0;
		st->threads_blocked += th->blocked != 0;
	}
	struct oxa_ring *r = __atomic_load_n(&oxa__s.ring, __ATOMIC_ACQUIRE);
	st->dropped = r ? oxa_ring_dropped(r) : 0;
	st->foreign = atomic_load(&oxa__s.foreign);
	st->stale = atomic_load(&oxa__s.stale);
	int armed = atomic_load(&oxa__s.armed);
	st->achieved_hz = armed ? rate_locked() : oxa__s.last_hz;
	st->source = armed ? oxa__s.source : OXA_SOURCE_NONE;
	st->covers_system = oxa__s.mode == OXP_MODE_CPU &&
			    (oxa__s.source == OXA_SOURCE_CPU_TIMER ||
			     (oxa__s.source == OXA_SOURCE_PERF_TASK_CLOCK &&
			      oxa__s.perf_kernel));
	cpu_now(&st->cpu_user_us, &st->cpu_sys_us);
	st->armed_user_us = oxa__s.acc_user_us;
	st->armed_sys_us = oxa__s.acc_sys_us;
	if (armed) {
		uint64_t u, k;
		cpu_since_arm(&u, &k);
		st->armed_user_us += u;
		st->armed_sys_us += k;
	}
	st->signo = oxa__s.signo;
	st->host_handler = atomic_load(&oxa__s.host_took);
	st->moved_from = oxa__s.moved_from;
	memcpy(st->why, oxa__s.why, sizeof(st->why));
	memcpy(st->note, oxa__s.note, sizeof(st->note));
	pthread_mutex_unlock(&oxa__s.lock);
}

/*
 * Has the host replaced our handler behind libc's back (a raw rt_sigaction
 * never reaches our interposers)?  Then our signals reach its handler and
 * corrupt its profile: leave it the signal, move to a free real-time one
 * and re-arm there.  The few signals already queued on the old one go to
 * the host.
 */
static void check_handler_locked(void)
{
	struct sigaction cur;
	if (oxa__s.lost || oxa__real_sigaction(oxa__s.signo, NULL, &cur) < 0 ||
	    ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == oxa__handler))
		return;
	int old = oxa__s.signo, was_armed = atomic_load(&oxa__s.armed);
	struct sigaction prev;
	int s = -1;
	for (int c = SIGRTMAX; c >= SIGRTMIN + 2 && s < 0; c--)
		if (c != old && signal_free_mask(c, &prev, !oxa__tls.excluded))
			s = c;
	disarm_locked();
	if (s < 0) {
		oxa__s.lost = 1;
		snprintf(oxa__s.why, sizeof(oxa__s.why), "the host took "
			 "signal %d without libc and no real-time signal is "
			 "free: no samples", old);
		return;
	}
	oxa__host_switch(s, &prev);
	if (oxa__install(s, NULL) < 0) {
		oxa__s.lost = 1;
		snprintf(oxa__s.why, sizeof(oxa__s.why), "the host took "
			 "signal %d without libc; signal %d: %s", old, s,
			 strerror(errno));
		return;
	}
	if (!oxa__s.moved_from)
		oxa__s.moved_from = old;
	if (was_armed) {
		oxa__s.source = oxa__source_pick(oxa__s.mode);
		cpu_now(&oxa__s.arm_user_us, &oxa__s.arm_sys_us);
		atomic_store(&oxa__s.armed, 1);
		oxa__threads_reap();
		oxa__threads_scan();
	}
}

void oxa_sampler_tick(void)
{
	pthread_mutex_lock(&oxa__s.lock);
	if (oxa__s.inited && atomic_load(&oxa__s.armed))
		check_handler_locked(); /* one syscall: catch a host soon */
	if (oxa__s.inited && ++oxa__s.ticks % 10 == 0) {
		oxa__threads_reap();
		oxa__text_refresh(); /* dlopen/dlclose since */
		if (atomic_load(&oxa__s.armed))
			oxa__threads_scan();
	}
	pthread_mutex_unlock(&oxa__s.lock);
}

/* The calling thread's slot, by its real tid: not the cached one, which
 * a vfork child shares with the parent thread whose TLS it runs on. */
static struct oxa__thread *own_slot(void)
{
	int tid = (int)syscall(SYS_gettid);
	unsigned hw = atomic_load(&oxa__s.hiwater);
	for (unsigned i = 0; i < hw && i < OXA_MAX_THREADS; i++)
		if (atomic_load(&oxa__threads[i].tid) == tid)
			return &oxa__threads[i];
	return NULL;
}

int oxa_sampler_exec_hold(void)
{
	if (!__atomic_load_n(&oxa__s.inited, __ATOMIC_ACQUIRE))
		return 0;
	struct oxa__thread *th = own_slot();
	if (!th || !atomic_load(&th->armed) || !th->kernel)
		return 0;
	const struct oxa__engine *e = oxa__engine_of(th->source);
	if (!e || !e->thread_stop || !e->thread_resume)
		return 0;
	/* A signal raised before the stop is delivered on the way out of
	 * its system call, to our handler: none is left for the new image. */
	e->thread_stop(th);
	return 1;
}

void oxa_sampler_exec_release(void)
{
	struct oxa__thread *th = own_slot();
	if (!th || !atomic_load(&th->armed))
		return;
	const struct oxa__engine *e = oxa__engine_of(th->source);
	if (e && e->thread_resume)
		e->thread_resume(th);
}

/*
 * Fork child (from our pthread_atfork handler, and from the agent before
 * anything else; the second call finds pid already updated and returns).
 * The child has one thread: forget the parent's, empty the ring (a handler
 * on another parent thread may have held a half-written record), keep the
 * handler installed.  Nothing is armed until the caller arms again.
 */
void oxa_sampler_atfork_child(void)
{
	if (!oxa__s.inited || oxa__s.pid == getpid())
		return;
	oxa__tls.tid = 0;
	oxa__tls.slot = 0;
	oxa__tls.guard = 0;
	oxa__threads_forget();
	atomic_store(&oxa__s.armed, 0);
	oxa__s.pid = getpid();
	if (oxa__s.ring)
		oxa_ring_reset(oxa__s.ring);
	oxa__s.ret_taken = oxa__s.ret_skipped = oxa__s.ret_unwind_fail = 0;
	oxa__s.win_delivered = 0;
	oxa__s.win_seconds = 0;
	oxa__s.win_seconds_u = 0;
	oxa__s.last_hz = 0;
	/* The child's CPU time starts at zero. */
	oxa__s.arm_user_us = oxa__s.arm_sys_us = 0;
	oxa__s.acc_user_us = oxa__s.acc_sys_us = 0;
	atomic_store(&oxa__s.foreign, 0);
	atomic_store(&oxa__s.stale, 0);
	if (oxa__tls.excluded)
		oxa_sampler_exclude_self(); /* the forking agent thread */
}

void oxa_sampler_shutdown(void)
{
	pthread_mutex_lock(&oxa__s.lock);
	if (!oxa__s.inited)
		goto out;
	disarm_locked();
	unsigned hw = atomic_load(&oxa__s.hiwater);
	for (unsigned i = 0; i < hw; i++)
		if (atomic_load(&oxa__threads[i].tid))
			oxa__slot_release(i);
	struct sigaction cur;
	if (oxa__real_sigaction(oxa__s.signo, NULL, &cur) == 0 &&
	    (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == oxa__handler) {
		/* SIG_IGN first discards any stale signal of ours still
		 * pending, which a restored SIG_DFL would turn into a kill.
		 * The host's own action (what it installed through our
		 * interposers, or what we replaced) goes back. */
		struct sigaction ign, host;
		memset(&ign, 0, sizeof(ign));
		ign.sa_handler = SIG_IGN;
		oxa__real_sigaction(oxa__s.signo, &ign, NULL);
		oxa__host_get(&host);
		oxa__real_sigaction(oxa__s.signo, &host, NULL);
	}
	struct oxa_ring *r = oxa__s.ring;
	__atomic_store_n(&oxa__s.ring, NULL, __ATOMIC_RELEASE);
	oxa_ring_free(r);
	__atomic_store_n(&oxa__s.inited, 0, __ATOMIC_RELEASE);
	oxa__s.disabled = 0;
out:
	pthread_mutex_unlock(&oxa__s.lock);
}
