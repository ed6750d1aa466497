/*
 * api.c - the agent's entry points: the constructor that starts it under
 * LD_PRELOAD, the destructor that flushes at exit, fork handling, and the
 * public oxprof_* API.
 *
 * Lifecycle: start = sampler init (handler installed, nothing armed) + the
 * drain thread; the drain thread connects and arms when the daemon (or
 * OXPROF_START) says so.  Host threads calling the API serialise on
 * api_lock; they never run inside the signal handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "drain/agent.h"
#include "host/exec.h"
#include "host/log.h"
#include "oxprof.h"

#define STOP_TIMEOUT_MS 3000

/* The public header stands alone; its modes are the protocol's. */
_Static_assert(OXPROF_MODE_CPU == (int)OXP_MODE_CPU && OXPROF_MODE_WALL == (int)OXP_MODE_WALL,
	       "oxprof.h's modes are enum oxp_mode");

struct oxa_agent oxa_agent = { .lock = PTHREAD_MUTEX_INITIALIZER,
			       .cond = PTHREAD_COND_INITIALIZER, .dump_fd = -1,
			       .tables_lock = PTHREAD_MUTEX_INITIALIZER };
static pthread_mutex_t api_lock = PTHREAD_MUTEX_INITIALIZER;
static int started, sampler_ready;
static pid_t agent_pid;              /* the process these tables belong to */
static struct oxa_config exec_cfg;   /* to start again after a failed exec */
static int before_image_end(int for_exec);
static void after_exec_failure(void);
static int exec_env(char *buf, size_t len);

/* What belongs to one process and one connection: the stack tables, the
 * wire's per-connection definitions, thread names. */
static void release_process_tables(struct oxa_agent *a)
{
	oxa_conn_destroy(&a->conn);
	oxa_stacks_destroy(&a->pending);
	oxa_stacks_destroy(&a->lifetime);
	free(a->str_gens.gen);
	free(a->frame_gens.gen);
	free(a->mod_gens.gen);
	free(a->tnames);
	ox_index_destroy(&a->itnames);
	a->str_gens = a->frame_gens = a->mod_gens = (struct oxa_gens){ 0 };
	a->tnames = NULL;
	a->ntnames = a->cap_tnames = 0;
}

/* What describes the address space (a fork child's is its parent's):
 * strings, symbols, frames. */
static void release_symbol_tables(struct oxa_agent *a)
{
	oxa_frames_destroy(&a->frames);
	oxa_symbols_free(a->syms);
	a->syms = NULL;
	oxa_strtab_destroy(&a->strs);
}

static void release_tables(struct oxa_agent *a)
{
	release_process_tables(a);
	release_symbol_tables(a);
}

/*
 * When this process started, in CLOCK_REALTIME: from /proc/self/stat, so
 * that it survives exec (a profile written just before an exec belongs to
 * the same run as the new image's).  The time now when unknown.
 */
static void process_start(struct timespec *ts)
{
	char buf[1024];
	struct oxa_fdid id;
	clock_gettime(CLOCK_REALTIME, ts);
	int fd = oxa_fd_open("/proc/self/stat", O_RDONLY, 0, &id);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	oxa_fd_close(fd, &id);
	if (n <= 0)
		return;
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the name may hold anything */
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	long hz = sysconf(_SC_CLK_TCK);
	struct timespec boot;
	if (!p || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &boot) < 0)
		return;
	unsigned long long ticks = strtoull(p + 1, NULL, 10);
	int64_t now_ns = (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
	int64_t up_ns = (int64_t)boot.tv_sec * 1000000000 + boot.tv_nsec;
	int64_t start_ns = now_ns - up_ns + (int64_t)(ticks * (1000000000ull / (unsigned long)hz));
	if (start_ns > 0 && start_ns <= now_ns) {
		ts->tv_sec = start_ns / 1000000000;
		ts->tv_nsec = start_ns % 1000000000;
	}
}

/* Fresh tables and counters for a new start, or for a fork child that
 * keeps the symbol tables it inherited (keep_symbols). */
static int setup_tables(struct oxa_agent *a, int keep_symbols)
{
	a->sent = a->refused = a->dropped_full = a->dropped_reset = 0;
	a->batch_seq = a->ack_seq = 0;
	a->pend_first_ms = a->pend_last_ms = 0;
	a->stop = 0;
	a->dump_fd = -1;
	process_start(&a->started_at);
	agent_pid = getpid();
	oxa_conn_init(&a->conn);
	a->keep_lifetime = a->cfg.output[0] || !a->cfg.socket[0];
	if (oxa_stacks_init(&a->pending, a->cfg.socket[0] ? a->cfg.buffer_bytes : 4096) < 0 ||
	    (a->keep_lifetime && oxa_stacks_init(&a->lifetime, a->cfg.buffer_bytes) < 0) ||
	    (!keep_symbols &&
	     (oxa_strtab_init(&a->strs) < 0 || oxa_symbols_new(&a->syms, &a->strs) < 0 ||
	      oxa_frames_init(&a->frames, a->syms) < 0))) {
		release_tables(a);
		return -ENOMEM;
	}
	a->frames.strs = &a->strs;
	a->want.running = a->cfg.start_running || a->cfg.inherited;
	a->want.mode = a->cfg.mode;
	a->want.hz = a->cfg.hz;
	a->want.depth = a->cfg.depth;
	return 0;
}

static int start_locked(const struct oxa_config *cfg)
{
	struct oxa_agent *a = &oxa_agent;
	if (started)
		return -EALREADY;
	oxa_fd_init(); /* before libunwind makes its pipe (fds.c) */
	oxa_exec_init();
	oxa_exec_before = before_image_end;
	oxa_exec_after_failure = after_exec_failure;
	oxa_exec_env = exec_env;
	if (!sampler_ready) {
		struct oxa_sampler_config sc = { .signo = cfg->signo };
		int r = oxa_sampler_init(&sc);
		if (r < 0) {
			struct oxa_sampler_stats st;
			oxa_sampler_stats(&st);
			oxa_log(OX_LOG_WARN, "sampling disabled: %s", st.why[0] ? st.why : strerror(-r));
			return r;
		}
		sampler_ready = 1;
	}
	a->cfg = *cfg;
	/* Sampling first, the tables after: samples wait in the sampler's
	 * ring, and the program's first milliseconds are not lost to the
	 * agent's own start (setup_tables sets the same wish again). */
	a->want.running = a->cfg.start_running || a->cfg.inherited;
	a->want.mode = a->cfg.mode;
	a->want.hz = a->cfg.hz;
	a->want.depth = a->cfg.depth;
	if (a->want.running)
		oxa_state_apply(a);
	int r = setup_tables(a, 0);
	if (r < 0) {
		oxa_sampler_disarm();
		return r;
	}
	if ((r = oxa_drain_start(a)) < 0) {
		oxa_sampler_disarm();
		release_tables(a);
		return r;
	}
	started = 1;
	return 0;
}

static void stop_locked(void)
{
	if (!started)
		return;
	oxa_sampler_disarm();
	oxa_drain_stop(&oxa_agent, STOP_TIMEOUT_MS);
	if (!oxa_agent.running)
		release_tables(&oxa_agent);
	started = 0;
}

/* Whether there is anything to lose: a process that sampled nothing (a
 * fork child about to exec, a wrapper) has no profile to write. */
static int sampled(void)
{
	struct oxa_sampler_stats s;
	oxa_sampler_stats(&s);
	return s.taken > 0;
}

/*
 * Before exec or _exit (exec.h): flush what was sampled - the stand-alone
 * profile, the daemon's last batch - as exit would.  Only in the process
 * the agent belongs to (a vfork child shares its parent's memory and must
 * touch nothing), and never waiting for api_lock (_exit may be called
 * from a signal handler that interrupted an API call).  For _exit only the
 * drain thread is stopped - no disarm, which takes the sampler's lock the
 * interrupted thread may hold, and no free - and that wait is bounded by
 * STOP_TIMEOUT_MS.
 */
static int before_image_end(int for_exec)
{
	if (getpid() != agent_pid || pthread_mutex_trylock(&api_lock) != 0)
		return 0;
	int stopped = 0;
	/* A process that took nothing and never reached the daemon still says
	 * it existed on _exit, as on exit (drain.c, finish); before an exec
	 * the new image will. */
	if (started && (sampled() ||
			(!for_exec && !__atomic_load_n(&oxa_agent.conn.gen, __ATOMIC_RELAXED)))) {
		if (for_exec) {
			exec_cfg = oxa_agent.cfg;
			stop_locked();
			stopped = 1;
		} else {
			oxa_drain_stop(&oxa_agent, STOP_TIMEOUT_MS);
		}
	}
	pthread_mutex_unlock(&api_lock);
	return stopped;
}

/* Decimal v at p; the end.  Async-signal-safe. */
static char *put_uint(char *p, unsigned v)
{
	char tmp[12];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/*
 * exec.h's oxa_exec_env: "OXPROF_FLEET=HZ,MODE,DEPTH" when this image is
 * sampling, so the next one starts at once (config.h).  Only in the
 * process the agent belongs to; reads a few words the drain thread may be
 * changing, which at worst passes on the state just before a change the
 * new image's WELCOME then corrects.  Async-signal-safe.
 */
static int exec_env(char *buf, size_t len)
{
	struct oxa_agent *a = &oxa_agent;
	static const char name[] = "OXPROF_FLEET=";
	if (!started || getpid() != agent_pid || !a->want.running || !oxa_sampler_armed() ||
	    len < sizeof(name) + 3 * 11)
		return 0;
	char *p = buf;
	memcpy(p, name, sizeof(name) - 1);
	p = put_uint(p + sizeof(name) - 1, a->want.hz);
	*p++ = ',';
	p = put_uint(p, (unsigned)a->want.mode);
	*p++ = ',';
	p = put_uint(p, a->want.depth);
	*p = 0;
	return (int)(p - buf);
}

static void after_exec_failure(void)
{
	pthread_mutex_lock(&api_lock);
	if (!started)
		(void)start_locked(&exec_cfg);
	pthread_mutex_unlock(&api_lock);
}

/* Whether the child may keep the symbol tables: the prepare handler got
 * tables_lock, so the drain thread was not changing them at the fork. */
static int fork_tables_locked;

/* Bounded: a fork must not wait long for the drain thread's turn (one
 * module's symbols, drain.c); past this the child reads the symbols again. */
#define FORK_TABLES_WAIT_MS 200

static void atfork_prepare(void)
{
	struct oxa_agent *a = &oxa_agent;
	struct timespec until;
	fork_tables_locked = 0;
	if (!started || !a->running)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += FORK_TABLES_WAIT_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	fork_tables_locked = pthread_mutex_timedlock(&a->tables_lock, &until) == 0;
}

static void atfork_parent(void)
{
	if (started && oxa_agent.running)
		oxa_drain_forked(&oxa_agent);
	if (fork_tables_locked)
		pthread_mutex_unlock(&oxa_agent.tables_lock);
	fork_tables_locked = 0;
}

static void atfork_child(void)
{
	/* Only this thread exists in the child: the parent's drain thread,
	 * connection and unsent samples are not ours.  Start over as a new
	 * process, sampling again if the parent was. */
	struct oxa_agent *a = &oxa_agent;
	pthread_mutex_init(&a->tables_lock, NULL);
	if (!started)
		return;
	/* The sampler's own child handler, registered before this one, has
	 * already reset its lock and forgotten the parent's threads. */
	/* The parent's wish (the fleet's state, a command's, or its own
	 * OXPROF_START): the child samples as the parent did until the
	 * daemon's WELCOME says otherwise.  Armed once the drain thread
	 * exists (arming first lost whole children's samples: 1-3 in 200
	 * forked children showed taken 0). */
	typeof(a->want) parent_want = a->want;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	pthread_mutex_init(&api_lock, NULL);
	oxa_fd_close(a->conn.fd, &a->conn.fd_id);
	oxa_fd_close(a->wake_fd[0], &a->wake_id[0]);
	oxa_fd_close(a->wake_fd[1], &a->wake_id[1]);
	a->conn.fd = -1;
	a->running = 0;
	/* The address space is the parent's: its symbols hold here too. */
	int keep = fork_tables_locked;
	fork_tables_locked = 0;
	if (keep)
		release_process_tables(a);
	else
		release_tables(a);
	int r = setup_tables(a, keep);
	oxa_log(OX_LOG_DEBUG, "fork child: %s the parent's symbol tables",
		keep ? "keeping" : "not keeping (the drain thread was busy)");
	a->want = parent_want;
	if (r < 0 || oxa_drain_start(a) < 0) {
		started = 0;
		oxa_sampler_disarm();
		return;
	}
	if (a->want.running)
		oxa_state_apply(a);
}

__attribute__((constructor)) static void oxa_init(void)
{
	if (getauxval(AT_SECURE))
		return; /* setuid/setgid: never profile, never read the environment */
	const char *off = secure_getenv("OXPROF_DISABLE");
	if (off && !strcmp(off, "1"))
		return;
	struct oxa_config cfg;
	char why[256] = "";
	if (oxa_config_from_env(&cfg, why, sizeof(why)) < 0) {
		oxa_log(OX_LOG_ERR, "not starting: %s", why);
		return;
	}
	/* The state handed over by an exec is for this image only: a child
	 * started without our exec wrappers (posix_spawn) must not take it. */
	unsetenv("OXPROF_FLEET");
	srand((unsigned)getpid() ^ (unsigned)ox_mono_ms());
	pthread_mutex_lock(&api_lock);
	int r = start_locked(&cfg);
	pthread_mutex_unlock(&api_lock);
	/* After the sampler's handlers (registered in its init): child
	 * handlers run in registration order, and ours needs its reset. */
	if (r == 0)
		pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

__attribute__((destructor)) static void oxa_fini(void)
{
	pthread_mutex_lock(&api_lock);
	stop_locked();
	pthread_mutex_unlock(&api_lock);
}

int oxprof_start(const struct oxprof_options *o)
{
	struct oxa_config cfg;
	char why[256];
	if (getauxval(AT_SECURE))
		return -EPERM;
	if (oxa_config_from_env(&cfg, why, sizeof(why)) < 0)
		return -EINVAL;
	if (o) {
		if (o->hz > OXA_MAX_HZ || o->depth > OXA_MAX_DEPTH ||
		    (o->mode != OXPROF_MODE_CPU && o->mode != OXPROF_MODE_WALL))
			return -EINVAL;
		cfg.hz = o->hz ? o->hz : cfg.hz;
		cfg.mode = o->mode;
		cfg.depth = o->depth ? o->depth : cfg.depth;
		if (o->socket && snprintf(cfg.socket, sizeof(cfg.socket), "%s", o->socket) >= (int)sizeof(cfg.socket))
			return -ENAMETOOLONG;
		if (o->no_daemon)
			cfg.socket[0] = 0;
		if (o->output && snprintf(cfg.output, sizeof(cfg.output), "%s", o->output) >= (int)sizeof(cfg.output))
			return -ENAMETOOLONG;
		int r = oxa_config_absolute_output(&cfg);
		if (r < 0)
			return r;
		cfg.start_running = o->start_running;
	}
	pthread_mutex_lock(&api_lock);
	stop_locked(); /* a restart with new options */
	int r = start_locked(&cfg);
	pthread_mutex_unlock(&api_lock);
	return r;
}

static int set_running(int on)
{
	pthread_mutex_lock(&api_lock);
	int r = started ? 0 : -ENOTCONN;
	if (r == 0) {
		struct oxa_agent *a = &oxa_agent;
		a->want.running = on;
		r = oxa_state_apply(a);
		oxa_drain_wake(a);
	}
	pthread_mutex_unlock(&api_lock);
	return r;
}

int oxprof_pause(void)
{
	return set_running(0);
}

int oxprof_unpause(void)
{
	return set_running(1);
}

int oxprof_stop(void)
{
	pthread_mutex_lock(&api_lock);
	int r = started ? 0 : -ENOTCONN;
	stop_locked();
	pthread_mutex_unlock(&api_lock);
	return r;
}

int oxprof_status(struct oxprof_status *st)
{
	if (!st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&api_lock);
	struct oxa_agent *a = &oxa_agent;
	struct oxp_agent_stats s;
	oxa_state_fill(a, &s, st->source, sizeof(st->source));
	st->running = s.state == OXP_AGENT_RUNNING;
	st->connected = started && a->conn.fd >= 0 && a->conn.welcomed;
	st->mode = s.mode;
	st->hz_requested = s.hz_requested;
	st->hz_achieved = s.hz_achieved;
	st->taken = s.taken;
	st->sent = s.sent;
	st->dropped = s.dropped;
	st->skipped = s.skipped;
	st->unwind_fail = s.unwind_fail;
	pthread_mutex_unlock(&api_lock);
	return 0;
}

int oxprof_dump_folded(int fd)
{
	struct oxa_agent *a = &oxa_agent;
	pthread_mutex_lock(&api_lock);
	if (!started || !a->keep_lifetime) {
		pthread_mutex_unlock(&api_lock);
		return started ? -ENODATA : -ENOTCONN;
	}
	pthread_mutex_lock(&a->lock);
	a->dump_fd = fd;
	oxa_drain_wake(a);
	while (a->dump_fd >= 0)
		pthread_cond_wait(&a->cond, &a->lock);
	int r = a->dump_result;
	pthread_mutex_unlock(&a->lock);
	pthread_mutex_unlock(&api_lock);
	return r;
}
