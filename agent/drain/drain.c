/*
 * drain.c - the agent's one thread: empties the sample ring into the stack
 * tables, symbolises, sends batches on a timer, talks to the daemon.  It
 * blocks every asynchronous signal and is never sampled itself.
 *
 * Its descriptors (wake pipe, daemon socket) may be closed or reused by the
 * host at any moment (fds.h): each turn of the loop checks them first,
 * forgets those that are no longer ours and re-creates them.
 */
#include <errno.h>
#include <link.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "host/log.h"

#define RING_POLL_MS 10      /* how often the ring is emptied while sampling */
#define FINAL_ACK_MS 2000    /* at stop: how long to wait for the daemon
				(its next snapshot, for durability); with
				the final state's 500 ms, under api.c's
				STOP_TIMEOUT_MS */
#define IDLE_CHECK_MS 1000   /* idle: how often the descriptors are checked */

void oxa_drain_wake(struct oxa_agent *a)
{
	/* Never write into a descriptor that is no longer our pipe: it may be
	 * the host's file by now. */
	int fd = a->wake_fd[1];
	char one = 1;
	if (oxa_fd_ours(fd, &a->wake_id[1])) {
		ssize_t w = write(fd, &one, 1);
		(void)w; /* full: the drain thread is awake anyway */
	}
}

void oxa_drain_forked(struct oxa_agent *a)
{
	if (!atomic_exchange(&a->warm_wanted, 1))
		oxa_drain_wake(a);
}

#define WARM_MODULES 512

/* The loaded modules: one pc in each, and the loader's counters. */
struct warm {
	uintptr_t pc[WARM_MODULES];
	size_t n;
	unsigned long long adds, subs;
};

static int module_pc(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct warm *w = arg;
	(void)size;
	w->adds = info->dlpi_adds;
	w->subs = info->dlpi_subs;
	for (int i = 0; i < info->dlpi_phnum && w->n < WARM_MODULES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && ph->p_memsz) {
			w->pc[w->n++] = info->dlpi_addr + ph->p_vaddr;
			break;
		}
	}
	return 0;
}

/*
 * A forking process (a pre-forking server, a shell) may itself sample
 * little - it waits for its children - while every child would read the
 * same modules' symbols on its own, a few ms of CPU each.  Read them once
 * here, where the children inherit them (api.c keeps the tables across
 * fork), and again only when the loader's list changed.  One module at a
 * time under tables_lock, so a fork waits for one module at most (and a
 * fork child never inherits an allocator caught mid-call by the fork:
 * ASan's does not survive that).
 */
static void warm_symbols(struct oxa_agent *a)
{
	if (!atomic_exchange(&a->warm_wanted, 0) || !a->syms)
		return;
	static struct warm w; /* drain thread only */
	memset(&w, 0, sizeof(w));
	dl_iterate_phdr(module_pc, &w);
	if (a->warm_adds && w.adds == a->warm_adds && w.subs == a->warm_subs)
		return;
	for (size_t i = 0; i < w.n; i++) {
		uint32_t func, module;
		uint64_t off;
		pthread_mutex_lock(&a->tables_lock);
		/* Any pc of a module has its symbols read. */
		(void)oxa_symbols_lookup(a->syms, w.pc[i], &func, &module, &off);
		pthread_mutex_unlock(&a->tables_lock);
	}
	a->warm_adds = w.adds;
	a->warm_subs = w.subs;
}

/* Re-create the wake pipe when the host closed or replaced either end;
 * forget a daemon socket the host closed (it is reconnected later). */
static void check_fds(struct oxa_agent *a)
{
	if (!oxa_fd_ours(a->wake_fd[0], &a->wake_id[0]) ||
	    !oxa_fd_ours(a->wake_fd[1], &a->wake_id[1])) {
		int p[2], lost = a->wake_fd[0] >= 0 || a->wake_fd[1] >= 0;
		struct oxa_fdid id[2] = { { 0 } };
		oxa_fd_close(a->wake_fd[0], &a->wake_id[0]);
		oxa_fd_close(a->wake_fd[1], &a->wake_id[1]);
		int r = oxa_fd_pipe(p, id);
		a->wake_id[0] = id[0];
		a->wake_id[1] = id[1];
		a->wake_fd[0] = r < 0 ? -1 : p[0];
		a->wake_fd[1] = r < 0 ? -1 : p[1];
		if (lost)
			oxa_log(OX_LOG_INFO, "the host closed the agent's wake pipe; %s",
				r < 0 ? strerror(-r) : "re-created");
		/* The pipe is the canary of the agent's range: a host that
		 * closed it closed the per-thread perf events too, and a
		 * thread whose event is gone is sampled no more.  Re-arm. */
		if (lost && oxa_sampler_armed()) {
			oxa_sampler_disarm();
			oxa_state_apply(a);
		}
	}
	if (a->conn.fd >= 0 && !oxa_fd_ours(a->conn.fd, &a->conn.fd_id))
		oxa_conn_close(a, "the host closed the agent's socket");
}

/* Move every sample from the ring into the tables. */
static void empty_ring(struct oxa_agent *a)
{
	struct oxa_sample *s = &a->scratch;
	uint64_t now = 0;
	while (oxa_sampler_pop(s) == 1) {
		if (a->cfg.socket[0] &&
		    oxa_stacks_add(&a->pending, s->tid, s->state, s->ips, s->nframes, 1) < 0)
			a->dropped_full++;
		else if (a->cfg.socket[0] && !now) {
			/* One clock read per emptying (every RING_POLL_MS). */
			now = ox_wall_ms();
			oxa_pending_span(a, now, now);
		}
		if (a->keep_lifetime)
			(void)oxa_stacks_add(&a->lifetime, 0, 0, s->ips, s->nframes, 1);
	}
}

/* Send what is pending, unless a flush is still unacknowledged or the log
 * of batches not yet durable is full; otherwise send the counters, only if
 * they changed. */
static void flush(struct oxa_agent *a)
{
	struct oxa_conn *c = &a->conn;
	if (c->fd < 0 || !c->welcomed || c->unacked)
		return;
	int r = 0;
	uint64_t digest = oxa_state_digest(a);
	if (oxa_stacks_pending(&a->pending) && oxa_held_room(a))
		r = oxa_batch_queue(a);
	else if (digest != a->reported)
		r = oxa_conn_send_state(a);
	a->reported = digest;
	if (r < 0)
		oxa_conn_close(a, oxp_strerror(r));
}

/* Paused, connected and with nothing to send, the thread sleeps until the
 * daemon or the API wakes it: a paused agent costs nothing but its stack. */
static int idle(struct oxa_agent *a)
{
	return !oxa_sampler_armed() && !a->conn.unacked && a->conn.out_off == a->conn.out.len &&
	       !oxa_stacks_pending(&a->pending) && oxa_state_digest(a) == a->reported &&
	       (a->conn.fd >= 0 || !a->cfg.socket[0]);
}

static int poll_timeout(struct oxa_agent *a, uint64_t next_flush)
{
	if (idle(a))
		return IDLE_CHECK_MS; /* the host may close our fds while we sleep */
	uint64_t now = ox_mono_ms(), until = next_flush;
	if (oxa_sampler_armed() && now + RING_POLL_MS < until)
		until = now + RING_POLL_MS;
	if (a->cfg.socket[0] && a->conn.fd < 0 && a->conn.next_try_ms < until)
		until = a->conn.next_try_ms;
	return until <= now ? 0 : (int)(until - now);
}

/* Wait for the wake pipe or the daemon: the part of wait_io that holds
 * nothing (tables_lock is free meanwhile).  poll's result. */
static int poll_io(struct oxa_agent *a, struct pollfd p[2], int timeout)
{
	p[0] = (struct pollfd){ .fd = a->wake_fd[0], .events = POLLIN };
	p[1] = (struct pollfd){ .fd = -1 };
	if (a->conn.fd >= 0) {
		p[1].fd = a->conn.fd;
		p[1].events = POLLIN | (a->conn.out.len > a->conn.out_off ? POLLOUT : 0);
	}
	return poll(p, 2, timeout);
}

/* What poll_io found: drain the wake pipe, read and write the socket. */
static void handle_io(struct oxa_agent *a, const struct pollfd p[2])
{
	if (p[0].revents & POLLIN) {
		char v[64];
		while (read(a->wake_fd[0], v, sizeof(v)) == (ssize_t)sizeof(v))
			;
	}
	if (a->conn.fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
		oxa_conn_read(a);
	if (a->conn.fd >= 0 && (p[1].revents & POLLOUT))
		oxa_conn_write(a);
}

static void wait_io(struct oxa_agent *a, int timeout)
{
	struct pollfd p[2];
	if (poll_io(a, p, timeout) > 0)
		handle_io(a, p);
}

/* Serve requests from host threads: a dump, or stop. */
static int requests(struct oxa_agent *a)
{
	pthread_mutex_lock(&a->lock);
	if (a->dump_fd >= 0) {
		pthread_mutex_lock(&a->tables_lock);
		empty_ring(a);
		a->dump_result = oxa_output_folded(a, a->dump_fd);
		pthread_mutex_unlock(&a->tables_lock);
		a->dump_fd = -1;
		pthread_cond_broadcast(&a->cond);
	}
	int stop = a->stop;
	pthread_mutex_unlock(&a->lock);
	return stop;
}

/* OXPROF_OUTPUT with "%p" replaced by the pid, so a forked child writes
 * its own file (see oxa_output_write for a path without it). */
static void write_output(struct oxa_agent *a)
{
	char path[sizeof(a->cfg.output) + 16];
	const char *p = strstr(a->cfg.output, "%p");
	if (p)
		snprintf(path, sizeof(path), "%.*s%d%s", (int)(p - a->cfg.output),
			 a->cfg.output, (int)getpid(), p + 2);
	else
		snprintf(path, sizeof(path), "%s", a->cfg.output);
	int r = oxa_output_write(a, path);
	if (r < 0)
		oxa_log(OX_LOG_ERR, "cannot write the profile to %s: %s", path, strerror(-r));
}

/* Last flush: everything taken so far goes to the daemon and is durable
 * there, or is counted: as sent when the daemon acknowledged it (it has
 * it, if not yet on disk), else as dropped, before the final state. */
static void finish(struct oxa_agent *a)
{
	pthread_mutex_lock(&a->tables_lock);
	empty_ring(a);
	uint64_t deadline = ox_mono_ms() + FINAL_ACK_MS;
	/* Between connections (the daemon restarted, we wait out a backoff),
	 * one try now, so what is held and the final counters get there.  A
	 * process that never reached the daemon (a short-lived child that took
	 * no sample: it lived less than a period, in the kernel, or was forked
	 * before its parent learned that the fleet runs) joins now too, as it
	 * would have a millisecond later: it existed, and status says so. */
	if (a->conn.fd < 0 && (oxa_stacks_pending(&a->pending) || a->conn.held.nb ||
			       (!a->conn.gen && a->cfg.socket[0]))) {
		a->conn.next_try_ms = 0;
		if (oxa_conn_maybe_connect(a) == 0)
			oxa_conn_write(a);
	}
	while (a->conn.fd >= 0 && ox_mono_ms() < deadline) {
		if (a->conn.welcomed && !a->conn.unacked && !oxa_stacks_pending(&a->pending) &&
		    !a->conn.held.nb)
			break;
		flush(a);
		oxa_conn_write(a);
		wait_io(a, 20);
	}
	a->dropped_full += oxa_stacks_pending(&a->pending);
	oxa_stacks_discard_pending(&a->pending);
	const struct oxa_held *h = &a->conn.held;
	oxa_log(OX_LOG_DEBUG, "held until durable, at most: %llu samples in %zu batches, "
		"%zu records (%zu bytes of log)", (unsigned long long)h->peak_samples, h->peak_nb,
		h->peak_nr, h->cap_r * sizeof(*h->r) + h->cap_b * sizeof(*h->b));
	oxa_held_abandon(a);
	if (a->conn.fd >= 0 && oxa_conn_send_state(a) == 0) {
		uint64_t until = ox_mono_ms() + 500;
		while (a->conn.fd >= 0 && a->conn.out_off < a->conn.out.len && ox_mono_ms() < until) {
			oxa_conn_write(a);
			wait_io(a, 20);
		}
	}
	if (a->cfg.output[0])
		write_output(a);
	pthread_mutex_unlock(&a->tables_lock);
}

static void *drain_main(void *arg)
{
	struct oxa_agent *a = arg;
	oxa_sampler_exclude_self();
	/* The period is read each turn: the daemon's WELCOME may change it. */
	uint64_t last_flush = ox_mono_ms();
	/* tables_lock is held for everything but the wait in poll and the
	 * warming between modules: a forking host thread (api.c's prepare
	 * handler) then finds this thread parked, never inside malloc - a
	 * child that inherits an allocator lock held at the fork (ASan's)
	 * hangs. */
	while (!requests(a)) {
		uint64_t next_flush = last_flush + a->cfg.flush_ms;
		struct pollfd p[2];
		pthread_mutex_lock(&a->tables_lock);
		check_fds(a);
		int timeout = poll_timeout(a, next_flush);
		pthread_mutex_unlock(&a->tables_lock);
		int n = poll_io(a, p, timeout);
		warm_symbols(a);
		pthread_mutex_lock(&a->tables_lock);
		if (n > 0)
			handle_io(a, p);
		empty_ring(a);
		oxa_sampler_tick();
		if (oxa_conn_maybe_connect(a) == 0)
			oxa_conn_write(a);
		if (ox_mono_ms() >= last_flush + a->cfg.flush_ms) {
			if (a->keep_lifetime)
				(void)oxa_output_resolve(a);
			flush(a);
			oxa_conn_write(a);
			last_flush = ox_mono_ms();
		}
		pthread_mutex_unlock(&a->tables_lock);
	}
	finish(a);
	return NULL;
}

/*
 * The drain thread is born with every signal blocked - the host's signals
 * go to its own threads, the sampler's never land here - except the
 * synchronous faults.  A fault in this thread (a library file rewritten
 * under the process, say) is then delivered to the host's own handler,
 * whose crash report is worth more than a silent kernel default.
 */
void oxa_drain_sigmask(sigset_t *mask, int sampler_signo)
{
	static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS };
	sigfillset(mask);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++)
		sigdelset(mask, faults[i]);
	if (sampler_signo > 0)
		sigaddset(mask, sampler_signo);
}

int oxa_drain_start(struct oxa_agent *a)
{
	int p[2];
	int r = oxa_fd_pipe(p, a->wake_id);
	if (r < 0)
		return r;
	a->wake_fd[0] = p[0];
	a->wake_fd[1] = p[1];
	pthread_attr_t attr;
	sigset_t mask;
	oxa_drain_sigmask(&mask, a->cfg.signo);
	pthread_attr_init(&attr);
	pthread_attr_setsigmask_np(&attr, &mask);
	r = pthread_create(&a->thread, &attr, drain_main, a);
	pthread_attr_destroy(&attr);
	if (r != 0) {
		oxa_fd_close(p[0], &a->wake_id[0]);
		oxa_fd_close(p[1], &a->wake_id[1]);
		return -r;
	}
	a->running = 1;
	return 0;
}

void oxa_drain_stop(struct oxa_agent *a, int timeout_ms)
{
	if (!a->running)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_mutex_unlock(&a->lock);
	oxa_drain_wake(a);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(a->thread, NULL, &ts) != 0) {
		oxa_log(OX_LOG_WARN, "drain thread did not finish in %d ms; leaving it", timeout_ms);
		return;
	}
	a->running = 0;
	oxa_fd_close(a->wake_fd[0], &a->wake_id[0]);
	oxa_fd_close(a->wake_fd[1], &a->wake_id[1]);
	a->wake_fd[0] = a->wake_fd[1] = -1;
}
