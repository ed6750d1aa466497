/*
 * sighandler.c - the signal handler: the only code in the agent that runs
 * in signal context.  Everything here is async-signal-safe: no malloc, no
 * locks, no stdio; errno is saved and restored; shared state is read
 * through atomics.
 *
 * Which signals are ours (the same signal number may also reach us from
 * kill(), sigqueue() or a host timer):
 *  - si_code SI_TIMER with our magic in si_value: one of our POSIX timers.
 *    Live when the cookie still matches its slot, else stale (a signal
 *    queued before the timer was deleted): swallowed.
 *  - si_code POLL_IN..POLL_HUP: a perf event's F_SETSIG signal; si_fd names
 *    the event.  Live when a slot of this thread holds that fd, else stale.
 *    An unknown fd is stale (one of ours just closed) unless the host
 *    has since installed a handler of its own, which may use F_SETSIG.
 *  - anything else is foreign and goes to the host's action for the
 *    signal: the one we replaced, or the handler the host installed since.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "engine.h"

OXA_TLS struct oxa__tls oxa__tls;
void (*volatile oxa__test_hook)(void);

/* Async-signal-safe.  Cached per thread; a fork child resets the cache. */
int oxa__gettid(void)
{
	if (!oxa__tls.tid)
		oxa__tls.tid = (int)syscall(SYS_gettid);
	return oxa__tls.tid;
}

static int slot_by_fd(int fd, int tid)
{
	int c = oxa__tls.slot - 1;
	if (c >= 0 && atomic_load_explicit(&oxa__threads[c].fd,
					   memory_order_relaxed) == fd &&
	    atomic_load_explicit(&oxa__threads[c].tid,
				 memory_order_relaxed) == tid)
		return c;
	unsigned hw = atomic_load_explicit(&oxa__s.hiwater,
					   memory_order_acquire);
	for (unsigned i = 0; i < hw && i < OXA_MAX_THREADS; i++) {
		struct oxa__thread *th = &oxa__threads[i];
		if (atomic_load_explicit(&th->fd, memory_order_relaxed) == fd &&
		    atomic_load_explicit(&th->tid, memory_order_relaxed) ==
			    tid) {
			oxa__tls.slot = (int)i + 1;
			return (int)i;
		}
	}
	return -1;
}

static int closed_fd(int fd)
{
	unsigned hw = atomic_load_explicit(&oxa__s.hiwater,
					   memory_order_acquire);
	for (unsigned i = 0; i < hw && i < OXA_MAX_THREADS; i++)
		if (atomic_load_explicit(&oxa__threads[i].old_fd,
					 memory_order_relaxed) == fd)
			return 1;
	return 0;
}

/* Slot index for a live signal of ours; -1 ours but stale; -2 foreign. */
static int classify(const siginfo_t *si, int tid)
{
	if (si->si_code == SI_TIMER) {
		uint64_t c = (uintptr_t)si->si_value.sival_ptr;
		if ((c >> 32) != OXA_TIMER_MAGIC)
			return -2;
		unsigned idx = (unsigned)(c & 0xffff);
		if (idx < OXA_MAX_THREADS &&
		    atomic_load_explicit(&oxa__threads[idx].cookie,
					 memory_order_relaxed) == c &&
		    atomic_load_explicit(&oxa__threads[idx].tid,
					 memory_order_relaxed) == tid)
			return (int)idx;
		return -1;
	}
	if (si->si_code >= POLL_IN && si->si_code <= POLL_HUP) {
		int i = slot_by_fd(si->si_fd, tid);
		if (i >= 0)
			return i;
		/* Not a live event of ours: a late one of ours, or, once the
		 * host has a handler of its own, the host's (F_SETSIG). */
		return closed_fd(si->si_fd) ||
			       !atomic_load_explicit(&oxa__s.host_took,
						     memory_order_relaxed) ?
			       -1 : -2;
	}
	return -2;
}

/*
 * Hand a foreign signal to the host's action for it: what we replaced at
 * init (SIG_DFL or SIG_IGN, and then only for signals whose default action
 * is to terminate), or the handler the host installed later through our
 * interposers (interpose.c).  SIG_DFL means: put the default back and
 * re-raise; the signal stays blocked until this handler returns, then the
 * kernel applies the default action, as if we were not here.
 */
static void forward(int sig, siginfo_t *si, void *uc)
{
	atomic_fetch_add_explicit(&oxa__s.foreign, 1, memory_order_relaxed);
	struct sigaction p;
	oxa__host_get(&p);
	int has = (p.sa_flags & SA_SIGINFO) ? p.sa_sigaction != NULL :
		  p.sa_handler != SIG_DFL && p.sa_handler != SIG_IGN;
	if (has && (p.sa_flags & SA_RESETHAND)) {
		/* One-shot, as the kernel would have done on entry. */
		struct sigaction d;
		memset(&d, 0, sizeof(d));
		d.sa_handler = SIG_DFL;
		oxa__host_set(&d);
	}
	if (p.sa_flags & SA_SIGINFO) {
		if (p.sa_sigaction)
			p.sa_sigaction(sig, si, uc);
		return;
	}
	if (p.sa_handler == SIG_IGN)
		return;
	if (p.sa_handler == SIG_DFL) {
		struct sigaction d;
		memset(&d, 0, sizeof(d));
		d.sa_handler = SIG_DFL;
		oxa__real_sigaction(sig, &d, NULL);
		syscall(SYS_tgkill, getpid(), oxa__gettid(), sig);
		return;
	}
	p.sa_handler(sig);
}

/*
 * Wall mode: was the thread blocked in a system call?  Heuristic from the
 * interrupted context: a blocking call interrupted by us either is being
 * restarted (SA_RESTART: the kernel rewound the pc onto the 2-byte
 * `syscall` instruction, 0f 05, and put the call number back in rax), or
 * failed with EINTR (pc just after `syscall`, rax == -EINTR).  A thread
 * about to execute a `syscall`, or one that just returned -EINTR on its
 * own, is misread as blocked; a thread in a syscall that completed when
 * our signal arrived is read as running.  Returns the syscall number when
 * known, -1 when blocked in an unknown call, -2 when running.
 */
static int wall_state(const ucontext_t *uc)
{
	const uint8_t *pc = (const uint8_t *)uc->uc_mcontext.gregs[REG_RIP];
	long rax = (long)uc->uc_mcontext.gregs[REG_RAX];
	uintptr_t off = (uintptr_t)pc & 0xfff;
	if (off <= 0xffe && pc[0] == 0x0f && pc[1] == 0x05)
		return rax >= 0 && rax < 0x7fff ? (int)rax : -1;
	if (off >= 2 && pc[-2] == 0x0f && pc[-1] == 0x05 && rax == -EINTR)
		return -1;
	return -2;
}

/*
 * cpu mode, with a source that counts system time: was the sample taken
 * in a system call?  Such a sample is signalled on the way back to user
 * space, so the interrupted pc directly follows the `syscall` instruction
 * (0f 05) that entered the kernel.  The bytes are read only inside a
 * readable, executable segment of a known module (text.c), never at an
 * arbitrary pc.  Misread: a sample in user mode exactly after a `syscall`
 * (one instruction's worth of user time), code whose instruction ends in
 * the bytes 0f 05; missed: system time outside system calls (page faults,
 * interrupts), a call the signal interrupted and the kernel restarted (pc
 * back on the `syscall`), JIT code.  Async-signal-safe.
 */
static int kernel_entry(uintptr_t pc)
{
	/* Also on pc's own page, the one the thread runs in: a host that
	 * mprotected a page of a module's text away cannot hurt us. */
	if ((pc & 0xfff) < 2 || !oxa__text_has(pc, 2))
		return 0;
	const volatile uint8_t *p = (const volatile uint8_t *)pc;
	return p[-2] == 0x0f && p[-1] == 0x05;
}

static void bump(_Atomic uint64_t *c)
{
	/* Only this thread writes its slot's counters: no locked add. */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed)
				      + 1, memory_order_relaxed);
}

static void take_sample(struct oxa__thread *th, const ucontext_t *uc,
			int tid)
{
	uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	bump(&th->delivered);
	/* libunwind reads the loader's lists: unsafe while they change. */
	if (oxa__tls.in_dl || oxa__tls.in_fork || oxa__in_loader(pc)) {
		bump(&th->skipped);
		return;
	}
	if (oxa__test_hook)
		oxa__test_hook();
	uint64_t rec[1 + OXA_MAX_DEPTH + OXA_HANDLER_FRAMES];
	unsigned depth = atomic_load_explicit(&oxa__s.depth,
					      memory_order_relaxed);
	int n = oxa__unwind(uc, (uintptr_t *)&rec[1], depth);
	if (n < 0) {
		bump(&th->unwind_fail);
		n = 1;
	}
	uint64_t meta = 0; /* state (bits 0-7), syscall (bits 8-23), kernel */
	if (th->source == OXA_SOURCE_WALL_TIMER) {
		int s = wall_state(uc);
		meta = s == -2 ? (uint64_t)0xffff << 8 :
				 1 | (uint64_t)(uint16_t)s << 8;
	} else {
		meta = (uint64_t)0xffff << 8;
		if (th->kernel && kernel_entry(pc))
			meta |= OXA_META_KERNEL;
	}
	rec[0] = meta;
	struct oxa_ring *r = __atomic_load_n(&oxa__s.ring, __ATOMIC_ACQUIRE);
	if (r && oxa_ring_push(r, (uint32_t)tid, rec, (size_t)n + 1) == 0)
		bump(&th->taken);
}

void oxa__handler(int sig, siginfo_t *si, void *ucv)
{
	int saved = errno;
	int tid = oxa__gettid();
	int idx = classify(si, tid);
	if (idx == -2) {
		forward(sig, si, ucv);
		errno = saved;
		return;
	}
	if (idx < 0) {
		atomic_fetch_add_explicit(&oxa__s.stale, 1,
					  memory_order_relaxed);
		errno = saved;
		return;
	}
	struct oxa__thread *th = &oxa__threads[idx];
	/* seq_cst pairs with oxa__source_stop/close: see sampler_int.h. */
	atomic_store(&th->busy, 1);
	if (!atomic_load(&th->armed) || atomic_load(&th->tid) != tid) {
		atomic_store(&th->busy, 0);
		atomic_fetch_add_explicit(&oxa__s.stale, 1,
					  memory_order_relaxed);
		errno = saved;
		return;
	}
	if (oxa__tls.guard) {
		atomic_fetch_add_explicit(&oxa__s.nested, 1,
					  memory_order_relaxed);
	} else {
		oxa__tls.guard = 1;
		take_sample(th, ucv, tid);
		oxa__tls.guard = 0;
	}
	/* What the engine needs to go on firing (perf: its real period after
	 * the random first one, a real-time signal's refresh). */
	const struct oxa__engine *e = oxa__engine_of(th->source);
	if (e && e->signalled)
		e->signalled(th);
	atomic_store(&th->busy, 0);
	errno = saved;
}
