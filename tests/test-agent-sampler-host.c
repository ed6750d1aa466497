/*
 * test-agent-sampler-host.c - the sampler living with its host: system
 * calls that must not see EINTR, wall-clock thread states, signals the
 * host owns, dlopen and thread churn, fork and exec, shutdown.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sampler/sampler_int.h"
#include "sampler-kit.h"
#include "task.h"

/* ---- restartable system calls ---- */

static int pipe_fds[2], child_go[2];
static char sock_path[108];
static pid_t waiter;      /* the thread that blocks in the calls */

/* Samples of tid collected so far, in state (0 running, 1 blocked). */
static long samples_of(pid_t tid, int state)
{
	long n = 0, total = atomic_load(&nrec);
	for (long i = 0; i < total; i++)
		n += recs[i].tid == (uint32_t)tid && recs[i].state == state;
	return n;
}

/* Until tid has `more` further samples in state: the number of signals a
 * call survived is what is tested, not how fast they come (a generous
 * bound, for a loaded machine).  0, or -ETIMEDOUT. */
#define SAMPLES_PER_CALL 30
static int wait_samples(pid_t tid, int state, long more)
{
	long until = samples_of(tid, state) + more;
	for (int i = 0; i < 15000; i++) {
		if (samples_of(tid, state) >= until)
			return 0;
		sleep_ms(1);
	}
	return -ETIMEDOUT;
}

static void *late_writer(void *arg)
{
	int fd = *(int *)arg;
	ASSERT_EQ(wait_samples(waiter, 1, SAMPLES_PER_CALL), 0);
	ASSERT_EQ(write(fd, "x", 1), 1);
	return NULL;
}

static void *late_connector(void *arg)
{
	(void)arg;
	ASSERT_EQ(wait_samples(waiter, 1, SAMPLES_PER_CALL), 0);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, sock_path);
	ASSERT_EQ(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	close(s);
	return NULL;
}

TEST(agent_sampler_restartable_syscalls_no_eintr)
{
	init_or_die();
	collector_start();
	/* Wall mode is the one that interrupts blocked threads. */
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_WALL, 1000, 32), 0);
	pthread_t t;
	char c;
	waiter = my_tid();

	ASSERT_EQ(pipe(pipe_fds), 0);
	ASSERT_EQ(pthread_create(&t, NULL, late_writer, &pipe_fds[1]), 0);
	ssize_t n = read(pipe_fds[0], &c, 1);
	ASSERT_MSG(n == 1, "read: %zd errno %d", n, errno);
	pthread_join(t, NULL);

	/* The child exits once this thread has been interrupted in waitpid. */
	ASSERT_EQ(pipe(child_go), 0);
	pid_t child = fork();
	ASSERT(child >= 0);
	if (child == 0) {
		_exit(read(child_go[0], &c, 1) == 1 ? 7 : 8);
	}
	ASSERT_EQ(pthread_create(&t, NULL, late_writer, &child_go[1]), 0);
	int status;
	pid_t w = waitpid(child, &status, 0);
	ASSERT_MSG(w == child, "waitpid: %d errno %d", (int)w, errno);
	ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	pthread_join(t, NULL);

	snprintf(sock_path, sizeof(sock_path), "/tmp/oxt-accept-%d",
		 (int)getpid());
	unlink(sock_path);
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, sock_path);
	ASSERT_EQ(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	ASSERT_EQ(listen(ls, 1), 0);
	ASSERT_EQ(pthread_create(&t, NULL, late_connector, NULL), 0);
	int cs = accept(ls, NULL, NULL);
	ASSERT_MSG(cs >= 0, "accept: errno %d", errno);
	close(cs);
	close(ls);
	unlink(sock_path);
	pthread_join(t, NULL);

	oxa_sampler_disarm();
	collector_stop();
	/* The calls were really interrupted: each returned only after this
	 * thread had been sampled blocked in it SAMPLES_PER_CALL times. */
	long blocked = samples_of(my_tid(), 1);
	printf("  %ld blocked samples of the waiting thread\n", blocked);
	ASSERT(blocked >= 3 * SAMPLES_PER_CALL);
}

static void *sleeper_main(void *arg)
{
	struct burner *b = arg;
	b->tid = my_tid();
	char c;
	ASSERT_EQ(read(pipe_fds[0], &c, 1), 1);
	return NULL;
}

TEST(agent_sampler_wall_state_running_vs_blocked)
{
	init_or_die();
	collector_start();
	ASSERT_EQ(pipe(pipe_fds), 0);
	struct burner s = { 0 };
	ASSERT_EQ(pthread_create(&s.t, NULL, sleeper_main, &s), 0);
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_WALL, 500, 32), 0);
	/* Until both threads have 100 samples: how many per second a loaded
	 * machine delivers is not the point, how they are classified is. */
	for (int i = 0; i < 600; i++) {
		burn_ms(50);
		if (samples_of(my_tid(), 0) + samples_of(my_tid(), 1) > 110 &&
		    samples_of(s.tid, 0) + samples_of(s.tid, 1) > 110)
			break;
	}
	oxa_sampler_disarm();
	ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
	pthread_join(s.t, NULL);
	collector_stop();
	long run[2] = { 0 }, blk[2] = { 0 };
	for (long i = 0; i < atomic_load(&nrec); i++) {
		int who = recs[i].tid == (uint32_t)s.tid ? 1 :
			  recs[i].tid == (uint32_t)my_tid() ? 0 : -1;
		if (who < 0)
			continue;
		if (recs[i].state)
			blk[who]++;
		else
			run[who]++;
	}
	printf("  burner run %ld blocked %ld; sleeper run %ld blocked %ld\n",
	       run[0], blk[0], run[1], blk[1]);
	ASSERT(blk[1] > 100 && run[1] * 10 <= blk[1]);
	ASSERT(run[0] > 100 && blk[0] * 10 <= run[0]);
}

/* ---- signals the host owns ---- */

static atomic_int host_hits;

static void host_prof(int sig)
{
	(void)sig;
	atomic_fetch_add(&host_hits, 1);
}

TEST(agent_sampler_host_sigprof_handler_kept)
{
	struct sigaction sa = { .sa_handler = host_prof,
				.sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGPROF, &sa, NULL), 0);
	struct itimerval it = { { 0, 10000 }, { 0, 10000 } };
	ASSERT_EQ(setitimer(ITIMER_PROF, &it, NULL), 0);

	/* Asked for SIGPROF explicitly: refused, and why is given. */
	setenv("OXPROF_SIGNAL", "SIGPROF", 1);
	ASSERT_EQ(oxa_sampler_init(NULL), -EBUSY);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	ASSERT(strstr(st.why, "owned by the host") != NULL);
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), -EBUSY);
	unsetenv("OXPROF_SIGNAL");

	/* Left to choose, it takes another signal. */
	init_or_die();
	oxa_sampler_stats(&st);
	ASSERT(st.signo >= SIGRTMIN && st.signo <= SIGRTMAX);
	collector_start();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	atomic_store(&host_hits, 0);
	int64_t cpu = burn_ms(1000);
	oxa_sampler_disarm();
	collector_stop();
	oxa_sampler_stats(&st);
	struct sigaction cur;
	sigaction(SIGPROF, NULL, &cur);
	ASSERT(cur.sa_handler == host_prof);
	long ours = count_tid(my_tid());
	printf("  host SIGPROF hits %d over %.0f ms CPU; ours %ld on signal "
	       "%d; foreign %llu\n", atomic_load(&host_hits), cpu / 1e6, ours,
	       st.signo, (unsigned long long)st.foreign);
	ASSERT(atomic_load(&host_hits) > 40);
	ASSERT(ours > 200);
	ASSERT_EQ(st.foreign, 0);
}

TEST(agent_sampler_foreign_signal_follows_sig_ign)
{
	signal(SIGPROF, SIG_IGN);
	init_or_die();
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	ASSERT_EQ(st.signo, SIGPROF);
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	kill(getpid(), SIGPROF);
	union sigval v = { .sival_int = 3 };
	sigqueue(getpid(), SIGPROF, v);
	burn_ms(100);
	oxa_sampler_disarm();
	oxa_sampler_stats(&st);
	ASSERT_EQ(st.foreign, 2); /* forwarded, and ignored as the host asked */
}

TEST(agent_sampler_foreign_signal_follows_sig_dfl)
{
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		if (oxa_sampler_init(NULL) < 0 ||
		    oxa_sampler_arm(OXP_MODE_CPU, 1000, 32) < 0)
			_exit(3);
		burn_ms(50);
		kill(getpid(), oxa__s.signo); /* default action: terminate */
		burn_ms(200);
		_exit(0);
	}
	int status;
	ASSERT_EQ(waitpid(p, &status, 0), p);
	ASSERT_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGPROF,
		   "status 0x%x", status);
}

/* ---- churn ---- */

static atomic_int churn_stop;
static atomic_long dl_cycles, thr_cycles;

static void *dl_churner(void *arg)
{
	static const char *libs[] = { "libz.so.1", "libbz2.so.1.0",
				      "libexpat.so.1", "libffi.so.8",
				      "liblzma.so.5" };
	unsigned i = (unsigned)(uintptr_t)arg;
	while (!atomic_load(&churn_stop)) {
		void *h = dlopen(libs[i++ % 5], RTLD_NOW | RTLD_LOCAL);
		burn_ms(1);
		if (h)
			dlclose(h);
		atomic_fetch_add(&dl_cycles, 1);
	}
	return NULL;
}

static void *tiny_thread(void *arg)
{
	(void)arg;
	burn_ms(2);
	return NULL;
}

TEST_TIMEOUT(agent_sampler_dlopen_and_thread_churn_10khz, 90)
{
	init_or_die();
	collector_start();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 10000, 128), 0);
	pthread_t d[2];
	for (uintptr_t i = 0; i < 2; i++)
		ASSERT_EQ(pthread_create(&d[i], NULL, dl_churner, (void *)i),
			  0);
	/* A fixed amount of churn, not a fixed time: a loaded machine does
	 * it more slowly, and that is no failure (the deadline is only a
	 * bound on a hang). */
	struct oxa_sampler_stats st;
	int64_t t0 = now_ns(CLOCK_MONOTONIC);
	for (;;) {
		oxa_sampler_stats(&st);
		if (atomic_load(&dl_cycles) > 50 && atomic_load(&thr_cycles) > 200 &&
		    st.taken > 1000)
			break;
		ASSERT_MSG(now_ns(CLOCK_MONOTONIC) - t0 < 60000000000ll,
			   "not done in 60 s: %ld dlopen cycles, %ld threads, %llu samples",
			   atomic_load(&dl_cycles), atomic_load(&thr_cycles),
			   (unsigned long long)st.taken);
		pthread_t t[4];
		for (int i = 0; i < 4; i++)
			ASSERT_EQ(pthread_create(&t[i], NULL, tiny_thread,
						 NULL), 0);
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
		atomic_fetch_add(&thr_cycles, 4);
		if (atomic_load(&thr_cycles) % 200 == 0) /* re-arm mid-churn */
			ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 10000, 128), 0);
	}
	atomic_store(&churn_stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(d[i], NULL);
	oxa_sampler_stats(&st);
	oxa_sampler_disarm();
	collector_stop();
	printf("  %ld dlopen cycles, %ld threads; taken %llu skipped %llu "
	       "dropped %llu stale %llu, registry %u\n",
	       atomic_load(&dl_cycles), atomic_load(&thr_cycles),
	       (unsigned long long)st.taken, (unsigned long long)st.skipped,
	       (unsigned long long)st.dropped, (unsigned long long)st.stale,
	       st.threads);
	ASSERT(atomic_load(&dl_cycles) > 50);
	ASSERT(atomic_load(&thr_cycles) > 200);
	ASSERT(st.taken > 1000);
	/* Exited threads gave their slots back (a few may await reaping). */
	ASSERT(st.threads < 64);
}

/* ---- fork and exec ---- */

TEST(agent_sampler_fork_child_samples_itself)
{
	init_or_die();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	burn_ms(100);
	pid_t parent_tid = my_tid();
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		oxa_sampler_atfork_child(); /* idempotent after our atfork */
		if (oxa_sampler_armed())
			_exit(10);
		struct oxa_sample s;
		while (oxa_sampler_pop(&s)) /* parent's samples are gone */
			_exit(11);
		if (oxa_sampler_arm(OXP_MODE_CPU, 1000, 32) < 0)
			_exit(12);
		burn_ms(400);
		oxa_sampler_disarm();
		long mine = 0, other = 0;
		while (oxa_sampler_pop(&s)) {
			if (s.tid == (uint32_t)getpid())
				mine++;
			else
				other++;
		}
		printf("  child %d: %ld own samples, %ld other\n",
		       (int)getpid(), mine, other);
		fflush(stdout);
		_exit(mine > 150 && other == 0 ? 0 : 13);
	}
	burn_ms(200); /* the parent keeps sampling meanwhile */
	int status;
	ASSERT_EQ(waitpid(p, &status, 0), p);
	ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "child status 0x%x", status);
	oxa_sampler_disarm();
	drain_all();
	ASSERT(count_tid(parent_tid) > 150);
	ASSERT_EQ(count_tid(p), 0);
}

static const char *const loop_cmd =
	"i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done";

/* A sampled process (a burner thread too) that execs a CPU loop. */
static void exec_case(int mode, unsigned hz, const char *source, int via)
{
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		if (source)
			setenv("OXPROF_SOURCE", source, 1);
		if (oxa_sampler_init(NULL) < 0 ||
		    oxa_sampler_arm(mode, hz, 64) < 0)
			_exit(3);
		pthread_t t;
		struct burner b = { .ms = 5000 };
		atomic_store(&go, 1);
		pthread_create(&t, NULL, burner_main, &b);
		burn_ms(150);
		if (via == 0) {
			execl("/bin/sh", "sh", "-c", loop_cmd, (char *)NULL);
			_exit(4);
		}
		int r = system(loop_cmd); /* posix_spawn: vfork child */
		_exit(WIFEXITED(r) ? WEXITSTATUS(r) : 5);
	}
	int status;
	ASSERT_EQ(waitpid(p, &status, 0), p);
	ASSERT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "mode %d hz %u via %d: status 0x%x", mode, hz, via, status);
}

TEST(agent_sampler_exec_cpu_loop_exits_zero)
{
	exec_case(OXP_MODE_CPU, 1000, NULL, 0);
	exec_case(OXP_MODE_CPU, 10000, NULL, 0);
	exec_case(OXP_MODE_CPU, 1000, "timer", 0);
	exec_case(OXP_MODE_WALL, 1000, NULL, 0);
	exec_case(OXP_MODE_CPU, 1000, NULL, 1);
	exec_case(OXP_MODE_WALL, 1000, NULL, 1);
}

TEST(agent_sampler_shutdown_restores_and_reinits)
{
	init_or_die();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	burn_ms(100);
	oxa_sampler_shutdown();
	struct sigaction cur;
	sigaction(SIGPROF, NULL, &cur);
	ASSERT(cur.sa_handler == SIG_DFL);
	ASSERT_EQ(count_perf_fds(), 0);
	burn_ms(100); /* a stale signal would kill us with SIG_DFL */
	init_or_die();
	ASSERT_EQ(oxa_sampler_arm(OXP_MODE_CPU, 1000, 32), 0);
	burn_ms(200);
	struct oxa_sampler_stats st;
	oxa_sampler_stats(&st);
	ASSERT(st.taken > 50);
	oxa_sampler_shutdown();
}
