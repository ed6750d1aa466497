/*
 * test-agent-children.c - processes that start processes, with the real
 * agent, oxprofd and oxprofctl: a forking server's short children are all
 * counted, `record` of a process tree sees the same with or without a
 * daemon already running, the --tree selector, status with exited agents
 * (compact, --all, expiry) and an exited agent's sent.
 *
 * The programs are tests/progs/forker (children that burn a given amount
 * of CPU time; `forker burn MS` burns without children).  Comparisons are
 * of samples against CPU time the kernel measured, never against wall
 * time; waits are bounded and generous.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "daemon-harness.h"
#include "task.h"

#define RATE 1000
#define WAIT_MS 60000

/* ---- status rows of a tree (the harness's status keeps 64 rows) ---- */

struct tree_rows {
	uint32_t n, live;
	int32_t pid[4096];
	uint64_t samples[4096], sent[4096], taken[4096], refused[4096];
	uint8_t state[4096];
};

/* STATUS with a selector (tree root, or one pid); rows copied into t. */
static void status_sel(const struct oxt_daemon *d, int32_t tree, int32_t pid,
		       struct tree_rows *t)
{
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_STATUS);
	c.sel.tree = tree;
	if (pid) {
		c.sel.npids = 1;
		c.sel.pids = &pid;
	}
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command = c;
	ASSERT_EQ(oxt_send(&p, &m), 0);
	memset(t, 0, sizeof(*t));
	for (;;) {
		ASSERT_EQ(oxt_recv(&p, &m, OXT_IO_MS), 0);
		if (m.type == OXP_MSG_REPLY)
			break;
		ASSERT_EQ(m.type, OXP_MSG_STATUS);
		for (uint32_t i = 0; i < m.u.status.nagents && t->n < 4096; i++) {
			const struct oxp_agent_row *a = &m.u.status.agents[i];
			t->pid[t->n] = a->pid;
			t->samples[t->n] = a->samples;
			t->sent[t->n] = a->sent;
			t->taken[t->n] = a->taken;
			t->refused[t->n] = a->dropped_daemon;
			t->state[t->n] = a->state;
			t->live += a->state != OXP_AGENT_EXITED;
			t->n++;
		}
	}
	oxt_peer_close(&p);
}

/* Until every agent of root's tree has left (at least `want` rows). */
static void wait_tree_exited(const struct oxt_daemon *d, int32_t root, uint32_t want,
			     struct tree_rows *t)
{
	uint64_t t0 = oxt_ms();
	for (;;) {
		status_sel(d, root, 0, t);
		if (t->n >= want && !t->live)
			return;
		ASSERT_MSG(oxt_ms() - t0 < WAIT_MS, "tree of %d: %u rows, %u live after %d ms",
			   (int)root, t->n, t->live, WAIT_MS);
		usleep(50000);
	}
}

static void start_fleet(const struct oxt_daemon *d)
{
	struct oxt_peer p;
	struct oxt_result r;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_START);
	c.hz = RATE;
	oxt_command(&p, &c, &r);
	ASSERT_EQ(r.code, 0);
	oxt_result_free(&r);
	oxt_peer_close(&p);
}

/* A query by process of root's tree (limit: all). */
static void query_tree(const struct oxt_daemon *d, int32_t root, struct oxt_result *r)
{
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_QUERY);
	c.by = OXP_BY_PROCESS;
	c.sel.tree = root;
	oxt_command(&p, &c, r);
	oxt_peer_close(&p);
}

static uint64_t row_of_pid(const struct oxt_result *r, int32_t pid)
{
	for (size_t i = 0; i < r->nrows; i++)
		if (r->rows[i].pid == pid)
			return r->rows[i].self;
	return 0;
}

/* The forker's report: its pid, its children, their user CPU time. */
struct forked {
	int32_t parent;
	int32_t child[512];
	int nchild;
	long long user_us, sys_us; /* all the children's threads */
	long long main_user_us;    /* their main threads (the program's own) */
};

static void parse_forker(const char *out, struct forked *f)
{
	memset(f, 0, sizeof(*f));
	for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		int v;
		long long u, s;
		if (sscanf(l, "thread_us %d %lld %lld", &v, &u, &s) == 3)
			f->main_user_us += u;
		else if (sscanf(l, "parent %d", &v) == 1)
			f->parent = v;
		else if (sscanf(l, "child %d", &v) == 1 && f->nchild < 512)
			f->child[f->nchild++] = v;
		else if (sscanf(l, "cpu_us %lld %lld", &u, &s) == 2) {
			f->user_us = u;
			f->sys_us = s;
		}
	}
	ASSERT_MSG(f->parent > 0 && f->user_us > 0, "forker's report:\n%.400s", out);
}

static const char *sock_env(const struct oxt_daemon *d)
{
	static char v[400];
	snprintf(v, sizeof(v), "OXPROF_SOCKET=%s", d->sock);
	return v;
}

/*
 * A forking server's children, 200 of 20-50 ms of CPU each, at 1 kHz:
 * every child shows in the profile, and the children's samples add up to
 * their user CPU time times the rate, within 10 %.  User time: the
 * sampler counts user time only (system time is issue 13's item 5); of
 * the program's threads (getrusage(RUSAGE_THREAD) in each child), not of
 * the agent's own, which RUSAGE_CHILDREN adds in (and which a sanitized
 * agent makes large).
 */
TEST_TIMEOUT(children_forker_all_counted, 600)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	start_fleet(&d);
	static char out[1 << 16];
	/* The forker forks at once: started running, as `record` starts a
	 * program, so its first children do not depend on how soon the
	 * daemon's WELCOME reaches the parent (a loaded machine, ASan). */
	char hz[32];
	snprintf(hz, sizeof(hz), "OXPROF_HZ=%d", RATE);
	const char *env[] = { sock_env(&d), "OXPROF_START=1", hz, NULL };
	char *argv[] = { OXT_FORKER, "200", "20", "50", "2", "mix", NULL };
	int st = oxt_run_agent(argv, env, out, sizeof(out));
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "forker: status %d", st);
	struct forked f;
	parse_forker(out, &f);
	ASSERT_EQ(f.nchild, 200);
	static struct tree_rows t;
	wait_tree_exited(&d, f.parent, 201, &t);
	struct oxt_result r;
	query_tree(&d, f.parent, &r);
	ASSERT_EQ(r.code, 0);
	uint64_t sum = 0;
	int missing = 0;
	for (int i = 0; i < f.nchild; i++) {
		uint64_t n = row_of_pid(&r, f.child[i]);
		if (!n) {
			struct tree_rows one;
			status_sel(&d, 0, f.child[i], &one);
			printf("  child %d: no samples; %u status rows%s", (int)f.child[i], one.n,
			       one.n ? "" : "\n");
			for (uint32_t j = 0; j < one.n; j++)
				printf("%s state %u taken %llu sent %llu%s", j ? "," : ":",
				       one.state[j], (unsigned long long)one.taken[j],
				       (unsigned long long)one.sent[j], j + 1 == one.n ? "\n" : "");
		}
		missing += n == 0;
		sum += n;
	}
	double expect = (double)f.main_user_us * RATE / 1e6;
	printf("  children: %d of %d in the profile, %llu samples; their main threads' user CPU "
	       "%.1f ms x %d Hz = %.0f: %.1f %% (all threads: user %.1f ms, system %.1f ms)\n",
	       f.nchild - missing, f.nchild, (unsigned long long)sum, f.main_user_us / 1e3, RATE,
	       expect, 100.0 * (double)sum / expect, f.user_us / 1e3, f.sys_us / 1e3);
	fflush(stdout);
	ASSERT_MSG(missing == 0, "%d children have no samples", missing);
	ASSERT_MSG((double)sum >= 0.9 * expect && (double)sum <= 1.1 * expect,
		   "children's samples %llu, expected %.0f +- 10 %%", (unsigned long long)sum,
		   expect);
	oxt_result_free(&r);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* ---- record of a process tree ---- */

/* A shell script that starts three programs (one in the background). */
static void write_script(const char *dir, char *path, size_t len)
{
	snprintf(path, len, "%s/three.sh", dir);
	FILE *f = fopen(path, "w");
	ASSERT(f);
	fprintf(f, "#!/bin/sh\n%s burn 300\n%s burn 200 &\n%s burn 250\nwait\n", OXT_FORKER,
		OXT_FORKER, OXT_FORKER);
	ASSERT_EQ(fclose(f), 0);
	ASSERT_EQ(chmod(path, 0755), 0);
}

/* Sum of a folded file's counts, and of the lines whose leaf is leaf. */
static void read_folded(const char *path, uint64_t *total, uint64_t *leaf_n, const char *leaf)
{
	FILE *f = fopen(path, "r");
	ASSERT_MSG(f, "no profile at %s", path);
	char line[8192];
	*total = *leaf_n = 0;
	while (fgets(line, sizeof(line), f)) {
		char *sp = strrchr(line, ' ');
		if (!sp)
			continue;
		uint64_t n = strtoull(sp + 1, NULL, 10);
		*total += n;
		*sp = 0;
		const char *l = strrchr(line, ';');
		l = l ? l + 1 : line;
		if (!strcmp(l, leaf))
			*leaf_n += n;
	}
	fclose(f);
}

/* oxprofctl record -o out -- script; with sock (a running daemon) or
 * without (OXPROF_SOCKET names nothing: a private daemon). */
static void record(const char *sock, const char *nosock, const char *script, const char *out,
		   char *err, size_t errlen)
{
	int pfd[2];
	ASSERT_EQ(pipe(pfd), 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		setenv("OXPROF_AGENT", OXT_AGENT_LIB, 1);
		setenv("OXPROFD", OXPROFD_PATH, 1);
		setenv("OXPROF_SOCKET", sock ? sock : nosock, 1);
		if (OXT_ASAN_OPTIONS[0])
			setenv("ASAN_OPTIONS", OXT_ASAN_OPTIONS, 1);
		execl(OXT_OXPROFCTL, "oxprofctl", "record", "-o", out, "--", script, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t n;
	while ((n = read(pfd[0], err + got, errlen - got - 1)) > 0)
		got += (size_t)n;
	err[got] = 0;
	close(pfd[0]);
	int st;
	ASSERT(waitpid(pid, &st, 0) == pid);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "record: status %d:\n%s", st, err);
}

/* The number in "agents: N samples from P processes" of record's summary. */
static void summary(const char *err, uint64_t *samples, int *procs)
{
	const char *s = strstr(err, "agents: ");
	ASSERT_MSG(s, "no summary line in:\n%s", err);
	unsigned long long n;
	ASSERT_MSG(sscanf(s, "agents: %llu samples from %d process", &n, procs) == 2,
		   "summary: %.200s", s);
	*samples = n;
}

/*
 * `record` of a script that starts three programs, with a private daemon
 * and with one already running (that holds another program's samples
 * too): the same programs, about the same totals (their CPU time is the
 * same), and in each case the summary line counts what the table does.
 */
TEST_TIMEOUT(children_record_tree_with_and_without_daemon, 300)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	start_fleet(&d);
	/* Someone else's samples in the shared daemon. */
	const char *env[] = { sock_env(&d), NULL };
	char *other[] = { OXT_FORKER, "burn", "200", NULL };
	int st = oxt_run_agent(other, env, NULL, 0);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	char script[512], out1[512], out2[512], nosock[512];
	write_script(d.dir, script, sizeof(script));
	snprintf(out1, sizeof(out1), "%s/private.folded", d.dir);
	snprintf(out2, sizeof(out2), "%s/shared.folded", d.dir);
	snprintf(nosock, sizeof(nosock), "%s/nobody-listens.sock", d.dir);
	static char err1[1 << 16], err2[1 << 16];
	record(NULL, nosock, script, out1, err1, sizeof(err1));
	record(d.sock, NULL, script, out2, err2, sizeof(err2));
	uint64_t t1, t2, b1, b2, s1, s2;
	int p1, p2;
	read_folded(out1, &t1, &b1, "child_burn");
	read_folded(out2, &t2, &b2, "child_burn");
	summary(err1, &s1, &p1);
	summary(err2, &s2, &p2);
	printf("  private daemon: %llu samples (%llu in child_burn), %d processes\n"
	       "  running daemon: %llu samples (%llu in child_burn), %d processes\n",
	       (unsigned long long)t1, (unsigned long long)b1, p1, (unsigned long long)t2,
	       (unsigned long long)b2, p2);
	/* The summary describes the table's set. */
	ASSERT_EQ(s1, t1);
	ASSERT_EQ(s2, t2);
	/* The three programs burn 750 ms: both profiles hold them, and only
	 * them (the other program's 200 ms are not in the shared one). */
	ASSERT_MSG(p1 >= 3 && p2 >= 3, "processes: %d and %d", p1, p2);
	ASSERT_MSG(b1 >= 600 && b2 >= 600 && b1 <= 900 && b2 <= 900,
		   "child_burn samples %llu and %llu, expected about 750",
		   (unsigned long long)b1, (unsigned long long)b2);
	uint64_t hi = b1 > b2 ? b1 : b2, lo = b1 > b2 ? b2 : b1;
	ASSERT_MSG(hi - lo <= hi / 10, "totals differ: %llu and %llu", (unsigned long long)b1,
		   (unsigned long long)b2);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/*
 * --tree: a query and a status of a shell's tree cover the shell and
 * every program it ran, not a program outside it; a forker's tree
 * covers its children.
 */
TEST_TIMEOUT(children_tree_selector, 300)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	start_fleet(&d);
	const char *env[] = { sock_env(&d), NULL };
	char *other[] = { OXT_FORKER, "burn", "100", NULL };
	int st = oxt_run_agent(other, env, NULL, 0);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	static char out[1 << 14];
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "echo shell $$; %s 3 50 50 1 _exit; %s burn 100", OXT_FORKER,
		 OXT_FORKER);
	char *sh[] = { "/bin/sh", "-c", cmd, NULL };
	st = oxt_run_agent(sh, env, out, sizeof(out));
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	int shell = 0;
	ASSERT(sscanf(out, "shell %d", &shell) == 1);
	struct forked f;
	parse_forker(strchr(out, '\n') + 1, &f);
	static struct tree_rows t;
	/* The shell, the forker and its 3 children, the burner at least. */
	wait_tree_exited(&d, shell, 6, &t);
	/* The forker (which may well have no samples: it waits) and its
	 * children are rows of the shell's tree; the children have samples. */
	int seen_forker = 0;
	for (uint32_t i = 0; i < t.n; i++)
		seen_forker |= t.pid[i] == f.parent;
	ASSERT_MSG(seen_forker, "the forker is not in the shell's tree");
	struct oxt_result r;
	query_tree(&d, shell, &r);
	ASSERT_EQ(r.code, 0);
	for (int i = 0; i < f.nchild; i++)
		ASSERT_MSG(row_of_pid(&r, f.child[i]) > 0, "child %d is not in the tree",
			   (int)f.child[i]);
	/* Nothing outside: the tree's total is what its rows hold. */
	uint64_t sum = 0;
	for (size_t i = 0; i < r.nrows; i++)
		sum += r.rows[i].self;
	ASSERT_EQ(sum, r.head.total);
	uint64_t rows_sum = 0;
	for (uint32_t i = 0; i < t.n; i++)
		rows_sum += t.samples[i];
	ASSERT_EQ(rows_sum, r.head.total);
	oxt_result_free(&r);
	/* The forker's own tree: it and its children only. */
	query_tree(&d, f.parent, &r);
	ASSERT_EQ(r.code, 0);
	for (size_t i = 0; i < r.nrows; i++) {
		int ok = r.rows[i].pid == f.parent;
		for (int j = 0; j < f.nchild; j++)
			ok |= r.rows[i].pid == f.child[j];
		ASSERT_MSG(ok, "pid %d is in the forker's tree", (int)r.rows[i].pid);
	}
	oxt_result_free(&r);
	/* A tree that names no process. */
	query_tree(&d, 999999999, &r);
	ASSERT_EQ(r.code, -OXP_ENOMATCH);
	oxt_result_free(&r);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* ---- status and exited agents ---- */

/* `oxprofctl ARGS...` against d; stdout into out.  Its exit status. */
static int ctl(const struct oxt_daemon *d, char *out, size_t len, const char *a1,
	       const char *a2)
{
	int pfd[2];
	ASSERT_EQ(pipe(pfd), 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		execl(OXT_OXPROFCTL, "oxprofctl", "--socket", d->sock, a1, a2, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t n;
	while ((n = read(pfd[0], out + got, len - got - 1)) > 0)
		got += (size_t)n;
	out[got] = 0;
	close(pfd[0]);
	int st;
	ASSERT(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int lists_pid(const char *out, int pid)
{
	char needle[32];
	for (const char *l = out; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		snprintf(needle, sizeof(needle), "%d ", pid);
		const char *p = l;
		while (*p == ' ')
			p++;
		if (!strncmp(p, needle, strlen(needle)))
			return 1;
	}
	return 0;
}

/*
 * Exited agents: `status` shows them as one count line, `status --all`
 * lists them, and after the daemon's --exited-ttl their rows leave
 * status while their samples stay in the aggregate.
 */
TEST_TIMEOUT(children_status_exited_compact_and_expiry, 300)
{
	struct oxt_daemon d;
	/* No row expires in the first part; the restart (rows and their exit
	 * times come back from the snapshot) makes them expire. */
	oxt_daemon_start(&d, NULL);
	oxt_daemon_stop(&d);
	const char *args[] = { "--state-dir", d.state, "--exited-ttl", "3600", NULL };
	const char *args_short[] = { "--state-dir", d.state, "--exited-ttl", "0.5", NULL };
	oxt_daemon_restart(&d, args);
	start_fleet(&d);
	static char out[1 << 14], txt[1 << 16];
	const char *env[] = { sock_env(&d), NULL };
	char *argv[] = { OXT_FORKER, "3", "30", "30", "1", "exit", NULL };
	int st = oxt_run_agent(argv, env, out, sizeof(out));
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct forked f;
	parse_forker(out, &f);
	static struct tree_rows t;
	wait_tree_exited(&d, f.parent, 4, &t);
	uint64_t before = 0;
	for (uint32_t i = 0; i < t.n; i++)
		before += t.samples[i];
	ASSERT_EQ(ctl(&d, txt, sizeof(txt), "status", NULL), 0);
	ASSERT_MSG(strstr(txt, "exited:   4 agents"), "status:\n%s", txt);
	ASSERT_MSG(!lists_pid(txt, f.child[0]), "status lists an exited agent:\n%s", txt);
	ASSERT_EQ(ctl(&d, txt, sizeof(txt), "status", "--all"), 0);
	ASSERT_MSG(lists_pid(txt, f.parent) && lists_pid(txt, f.child[0]),
		   "status --all does not list the exited agents:\n%s", txt);
	/* Expiry: their rows go (bounded wait), their samples stay. */
	oxt_daemon_stop(&d);
	oxt_daemon_restart(&d, args_short);
	uint64_t t0 = oxt_ms();
	do {
		usleep(200000);
		status_sel(&d, f.parent, 0, &t);
		ASSERT_MSG(oxt_ms() - t0 < WAIT_MS, "rows still there after %d ms", WAIT_MS);
	} while (t.n);
	ASSERT_EQ(ctl(&d, txt, sizeof(txt), "status", "--all"), 0);
	ASSERT_MSG(!lists_pid(txt, f.parent), "an expired row in status --all:\n%s", txt);
	struct oxt_result r;
	query_tree(&d, f.parent, &r);
	ASSERT_EQ(r.code, 0);
	ASSERT_EQ(r.head.total, before);
	oxt_result_free(&r);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/*
 * An agent killed while it samples (it could not send its last counters):
 * once exited, its row's sent equals what the daemon took of it, as for
 * an agent that exits normally.
 */
TEST_TIMEOUT(children_exited_sent_equals_accepted, 300)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	start_fleet(&d);
	const char *env[] = { sock_env(&d), NULL };
	char *argv[] = { OXT_FORKER, "burn", "60000", NULL };
	pid_t pid = oxt_spawn_agent(argv, env);
	static struct tree_rows t;
	/* Several batches in, still burning. */
	uint64_t t0 = oxt_ms();
	for (;;) {
		status_sel(&d, 0, pid, &t);
		if (t.n && t.samples[0] >= 1500)
			break;
		ASSERT_MSG(oxt_ms() - t0 < WAIT_MS, "no samples from pid %d", (int)pid);
		usleep(50000);
	}
	ASSERT_EQ(kill(pid, SIGKILL), 0);
	int st;
	ASSERT(waitpid(pid, &st, 0) == pid);
	wait_tree_exited(&d, pid, 1, &t);
	printf("  killed agent: taken %llu, sent %llu, accepted %llu, refused %llu\n",
	       (unsigned long long)t.taken[0], (unsigned long long)t.sent[0],
	       (unsigned long long)t.samples[0], (unsigned long long)t.refused[0]);
	ASSERT_EQ(t.sent[0], t.samples[0] + t.refused[0]);
	/* And one that exits normally. */
	char *argv2[] = { OXT_FORKER, "burn", "300", NULL };
	pid = oxt_spawn_agent(argv2, env);
	ASSERT(waitpid(pid, &st, 0) == pid);
	wait_tree_exited(&d, pid, 1, &t);
	ASSERT_EQ(t.sent[0], t.samples[0] + t.refused[0]);
	ASSERT_EQ(t.taken[0], t.sent[0]);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/*
 * Children that take no sample (they live less than a sampling period)
 * still appear in status, however they leave (exit, _exit, return from
 * main): with the fleet sampling, a process is never invisible.
 */
TEST_TIMEOUT(children_without_samples_appear, 300)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	start_fleet(&d);
	static char out[1 << 14];
	const char *env[] = { sock_env(&d), NULL };
	char *argv[] = { OXT_FORKER, "12", "0", "0", "1", "mix", NULL };
	int st = oxt_run_agent(argv, env, out, sizeof(out));
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct forked f;
	parse_forker(out, &f);
	ASSERT_EQ(f.nchild, 12);
	static struct tree_rows t;
	wait_tree_exited(&d, f.parent, 1, &t);
	/* The children's last words come after the parent's exit: wait. */
	int missing = 0;
	uint64_t t0 = oxt_ms();
	do {
		usleep(100000);
		status_sel(&d, f.parent, 0, &t);
		missing = 0;
		for (int i = 0; i < f.nchild; i++) {
			int seen = 0;
			for (uint32_t j = 0; j < t.n; j++)
				seen |= t.pid[j] == f.child[i];
			missing += !seen;
		}
	} while (missing && oxt_ms() - t0 < WAIT_MS);
	printf("  %d of %d children without samples in status\n", f.nchild - missing, f.nchild);
	fflush(stdout);
	/* Before the agent joined at exit, 3 of 12 never appeared.  Joining at
	 * exit is bounded (FINAL_ACK_MS): with every core busy one child in a
	 * run was seen to miss it.  That is a known gap (issue 13, item 4),
	 * not allowed to grow: at most one. */
	ASSERT_MSG(missing <= 1, "%d children never appeared in status", missing);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}
