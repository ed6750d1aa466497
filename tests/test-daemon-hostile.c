/*
 * test-daemon-hostile.c - an unprivileged local user (nobody) attacks the
 * real oxprofd: HELLO floods with big strings, sparse id floods, partial
 * frames, silent connections, fake exe claims.  Each case checks that the
 * daemon keeps within its budgets, that root's status is still answered,
 * another user's agents still get in, and that claims are not believed.
 *
 * Budgets are small (a few MiB) so the attacks stay small and fast.
 * Figures (RSS before/after) are printed for the report.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "task.h"

#define NOBODY 65534
#define NOGROUP 65534
#define OTHER_UID 1 /* "daemon": another unprivileged user */

static int skip_unless_root(void)
{
	if (geteuid() == 0)
		return 0;
	OXT_SKIP("not root, cannot attack as uid %d", NOBODY);
}

/*
 * OXT_HOSTILE_FULL=1 runs the attacks at the sizes against the
 * default budgets (a measurement, for the figures; slow): scale(small,
 * full) picks a size, and start() drops the small budgets.
 */
static int full_size(void)
{
	return getenv("OXT_HOSTILE_FULL") != NULL;
}

static int scale(int small, int full)
{
	return full_size() ? full : small;
}

/* Start oxprofd with args; its private dir must be reachable for nobody. */
static void start(struct oxt_daemon *d, const char *const *args)
{
	oxt_daemon_start(d, full_size() ? NULL : args);
	ASSERT(chmod(d->dir, 0755) == 0);
}

static long rss_kb(const struct oxt_daemon *d)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* What the daemon's RSS grew by must fit its budget (plus slack for the
 * allocator and libuv).  Under AddressSanitizer freed memory is held in
 * quarantine, so RSS says nothing there and is only printed. */
#if defined(__SANITIZE_ADDRESS__)
#define OXT_RSS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OXT_RSS_MEANINGFUL 0
#endif
#endif
#ifndef OXT_RSS_MEANINGFUL
#define OXT_RSS_MEANINGFUL 1
#endif

static void check_rss(long grown_kb, uint64_t budget)
{
	printf("  RSS grew by %ld KiB (budget %llu KiB)\n", grown_kb,
	       (unsigned long long)budget / 1024);
	if (!OXT_RSS_MEANINGFUL)
		return;
	ASSERT_MSG(grown_kb * 1024 <= (long)budget + (8 << 20), "RSS grew %ld KiB, budget %llu",
		   grown_kb, (unsigned long long)budget);
}

/* ---- status, with the fields these tests look at ---- */

struct hrow {
	int32_t pid;
	uint32_t uid;
	char exe[300];
	uint8_t state;
	uint32_t flags;
	uint64_t samples, dropped_daemon;
};

struct huid {
	uint32_t uid;
	uint64_t mem, refused_mem, refused_conns, dropped;
	uint32_t conns, agents;
};

struct hstatus {
	uint64_t mem_used, mem_budget, mem_peers, refused_conns, refused_mem, dropped;
	uint32_t nrows, nuids;
	struct hrow rows[64];
	struct huid uids[16];
};

static int try_status(const struct oxt_daemon *d, struct hstatus *st)
{
	struct oxt_peer p;
	memset(st, 0, sizeof(*st));
	int r = oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0);
	if (r < 0)
		return r;
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command = oxt_cmd(OXP_CMD_STATUS);
	ASSERT_EQ(oxt_send(&p, &m), 0);
	int got = 0;
	while ((r = oxt_recv(&p, &m, 10000)) == 0 && m.type != OXP_MSG_REPLY) {
		ASSERT_EQ(m.type, OXP_MSG_STATUS);
		const struct oxp_status *s = &m.u.status;
		st->mem_used = s->mem_used;
		st->mem_budget = s->mem_budget;
		st->mem_peers = s->mem_peers;
		st->refused_conns = s->refused_conns;
		st->refused_mem = s->refused_mem;
		st->dropped = s->dropped;
		for (uint32_t i = 0; i < s->nagents && st->nrows < 64; i++) {
			const struct oxp_agent_row *a = &s->agents[i];
			struct hrow *o = &st->rows[st->nrows++];
			o->pid = a->pid;
			o->uid = a->uid;
			snprintf(o->exe, sizeof(o->exe), "%.*s", (int)a->exe.len, a->exe.ptr);
			o->state = a->state;
			o->flags = a->flags;
			o->samples = a->samples;
			o->dropped_daemon = a->dropped_daemon;
		}
		for (uint32_t i = 0; i < s->nuids && st->nuids < 16; i++) {
			const struct oxp_uid_row *u = &s->uids[i];
			st->uids[st->nuids++] = (struct huid){ u->uid, u->mem, u->refused_mem,
				u->refused_conns, u->dropped, u->conns, u->agents };
		}
		got = 1;
	}
	oxt_peer_close(&p);
	if (r < 0)
		return r;
	return got ? 0 : -EBADMSG;
}

static void status(const struct oxt_daemon *d, struct hstatus *st)
{
	int r = try_status(d, st);
	ASSERT_MSG(r == 0, "root's status was not answered: %s", oxp_strerror(r));
}

static const struct huid *uid_row(const struct hstatus *st, uint32_t uid)
{
	for (uint32_t i = 0; i < st->nuids; i++)
		if (st->uids[i].uid == uid)
			return &st->uids[i];
	return NULL;
}

static const struct hrow *pid_row(const struct hstatus *st, int32_t pid)
{
	for (uint32_t i = 0; i < st->nrows; i++)
		if (st->rows[i].pid == pid && st->rows[i].state != OXP_AGENT_EXITED)
			return &st->rows[i];
	return NULL;
}

static void print_status(const char *when, const struct oxt_daemon *d, const struct hstatus *st)
{
	printf("  %s: RSS %ld KiB, mem_used %llu of %llu (peers %llu), refused conns %llu, "
	       "refused charges %llu\n", when, rss_kb(d), (unsigned long long)st->mem_used,
	       (unsigned long long)st->mem_budget, (unsigned long long)st->mem_peers,
	       (unsigned long long)st->refused_conns, (unsigned long long)st->refused_mem);
	for (uint32_t i = 0; i < st->nuids; i++)
		printf("    uid %u: mem %llu, conns %u, agents %u, refused conns %llu, "
		       "refused charges %llu, refused samples %llu\n", st->uids[i].uid,
		       (unsigned long long)st->uids[i].mem, st->uids[i].conns, st->uids[i].agents,
		       (unsigned long long)st->uids[i].refused_conns,
		       (unsigned long long)st->uids[i].refused_mem,
		       (unsigned long long)st->uids[i].dropped);
}

/* ---- the attacker ---- */

/*
 * Run fn(d, arg) in a child as uid/gid; it writes one byte to ready once
 * its attack is in place and then holds it (connections open) until the
 * parent calls release().  Returns the child's pid.
 */
struct attacker {
	pid_t pid;
	int ready, hold; /* parent's ends */
};

typedef int (*attack_fn)(const struct oxt_daemon *d, void *arg);

static void become(uid_t uid, gid_t gid)
{
	struct rlimit rl = { 8192, 8192 };
	setrlimit(RLIMIT_NOFILE, &rl); /* as root, before dropping it */
	signal(SIGPIPE, SIG_IGN);
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		_exit(99);
}

static void attack(struct attacker *at, const struct oxt_daemon *d, uid_t uid, attack_fn fn,
		   void *arg)
{
	int rp[2], hp[2];
	ASSERT(pipe(rp) == 0 && pipe(hp) == 0);
	fflush(NULL);
	at->pid = fork();
	ASSERT(at->pid >= 0);
	if (at->pid == 0) {
		close(rp[0]);
		close(hp[1]);
		become(uid, uid == NOBODY ? NOGROUP : uid);
		int r = fn(d, arg);
		char c = (char)r;
		if (write(rp[1], &c, 1) != 1)
			_exit(98);
		if (read(hp[0], &c, 1) < 0) /* EOF: released */
			_exit(97);
		_exit(0);
	}
	close(rp[1]);
	close(hp[0]);
	at->ready = rp[0];
	at->hold = hp[1];
	char c = 0;
	ASSERT_MSG(read(at->ready, &c, 1) == 1, "the attacker died before its attack was in place");
	ASSERT_MSG(c == 0, "the attacker failed (%d)", c);
}

static void release(struct attacker *at)
{
	close(at->hold);
	close(at->ready);
	int st;
	ASSERT(waitpid(at->pid, &st, 0) == at->pid);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "attacker exit status 0x%x", st);
}

/* Connect and send a HELLO without waiting for the answer; the fd or -1. */
static int raw_hello(const struct oxt_daemon *d, int role, const char *exe, const char *cmdline)
{
	int fd;
	if (oxp_connect(d->sock, &fd) < 0)
		return -1;
	struct oxp_buf b;
	oxp_buf_init(&b);
	struct oxp_msg m = { .type = OXP_MSG_HELLO };
	m.u.hello = (struct oxp_hello){ (uint8_t)role, 1, oxp_str_c(exe), oxp_str_c(cmdline),
					oxp_str_c("liboxprof 0.1.0"), 0 };
	ASSERT_EQ(oxp_encode(&b, &m), 0);
	int r = oxp_send_all(fd, b.data, b.len, 10000);
	oxp_buf_destroy(&b);
	if (r < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether the daemon closed fd (EOF or reset after any messages). */
static int wait_closed(int fd, int timeout_ms)
{
	uint64_t t0 = oxt_ms();
	char buf[4096];
	struct timeval tv = { 0, 100000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (oxt_ms() - t0 < (uint64_t)timeout_ms) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return 1;
	}
	return 0;
}

/* ---- a real agent of another user, and root ---- */

/* In a child as uid: join as an agent, send 100 samples; exit 0 if all
 * were accepted. */
static int agent_as(const struct oxt_daemon *d, uid_t uid, const char *exe)
{
	fflush(NULL);
	pid_t kid = fork();
	ASSERT(kid >= 0);
	if (kid == 0) {
		if (uid)
			become(uid, uid == NOBODY ? NOGROUP : uid);
		static struct oxt_agent a;
		char err[512] = "";
		int r = oxp_connect(d->sock, &a.p.fd);
		if (r < 0)
			_exit(10);
		close(a.p.fd);
		if ((r = oxt_agent_join(&a, d, exe)) != 0) {
			printf("  agent of uid %u refused: %d %s\n", (unsigned)uid, r, err);
			_exit(11);
		}
		oxt_agent_add(&a, 1, "main", "main;work;leaf", 100);
		struct oxp_samples_ack ack;
		if (oxt_agent_flush(&a, &ack) != 0)
			_exit(12);
		printf("  agent of uid %u: %llu accepted, %llu refused\n", (unsigned)uid,
		       (unsigned long long)ack.accepted, (unsigned long long)ack.refused);
		oxt_agent_leave(&a);
		_exit(ack.accepted == 100 ? 0 : 13);
	}
	int st;
	ASSERT(waitpid(kid, &st, 0) == kid);
	/* Refused at accept, the HELLO may meet a closed socket: the
	 * harness then aborts the child. */
	return WIFEXITED(st) ? WEXITSTATUS(st) : 20;
}

/* ---- HELLO flood ---- */

static char *big_string(char c, size_t n, unsigned salt)
{
	char *s = malloc(n + 1);
	ASSERT(s);
	memset(s, c, n);
	s[0] = '/';
	snprintf(s + 1, 16, "%08x", salt);
	s[9] = c;
	s[n] = 0;
	return s;
}

static int hello_flood(const struct oxt_daemon *d, void *arg)
{
	int n = *(int *)arg;
	for (int i = 0; i < n; i++) {
		char *exe = big_string('e', 60000, (unsigned)i);
		char *cmd = big_string('c', 60000, (unsigned)i);
		int fd = raw_hello(d, OXP_ROLE_AGENT, exe, cmd);
		free(exe);
		free(cmd);
		if (fd < 0)
			continue;
		struct oxt_peer p = { .fd = fd };
		struct oxp_msg m;
		ASSERT_EQ(oxp_reader_init(&p.rd, 0), 0);
		ASSERT_EQ(oxp_decoder_new(&p.dec), 0);
		oxt_recv(&p, &m, 10000); /* WELCOME or ERROR: the HELLO was handled */
		oxt_peer_close(&p);
	}
	return 0;
}

/* 300 HELLOs of 60 KB strings (36 MB) against a 4 MiB budget: the
 * strings must not be taken on trust nor held beyond the budget, and
 * root's agent still gets its samples in. */
TEST_TIMEOUT(hostile_hello_flood, 120)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	const char *args[] = { "--mem-budget", "4M", NULL };
	start(&d, args);
	struct hstatus st;
	status(&d, &st);
	print_status("before", &d, &st);
	long rss0 = rss_kb(&d);
	struct attacker at;
	int n = scale(300, 3000);
	attack(&at, &d, NOBODY, hello_flood, &n);
	release(&at);
	status(&d, &st);
	print_status("after the flood", &d, &st);
	ASSERT_MSG(st.mem_used <= st.mem_budget, "mem_used %llu over budget %llu",
		   (unsigned long long)st.mem_used, (unsigned long long)st.mem_budget);
	check_rss(rss_kb(&d) - rss0, st.mem_budget);
	ASSERT_EQ(agent_as(&d, 0, "/usr/bin/root-agent"), 0);
	ASSERT_EQ(agent_as(&d, OTHER_UID, "/usr/bin/other-agent"), 0);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* ---- sparse id flood ---- */

/* One agent connection defines ~1 M sparse string and frame ids (the
 * same string and frame each time, so the aggregate does not grow): only
 * the per-connection id maps do. */
static int sparse_flood(const struct oxt_daemon *d, void *arg)
{
	int batches = *(int *)arg;
	int fd = raw_hello(d, OXP_ROLE_AGENT, "/bin/flood", "flood");
	if (fd < 0)
		return 1;
	enum { PER = 24000 };
	static struct oxp_str_def strs[PER];
	static struct oxp_frame_def frames[PER];
	struct oxp_buf b;
	oxp_buf_init(&b);
	uint32_t next = 0x10000000u;
	for (int k = 0; k < batches; k++) {
		for (uint32_t i = 0; i < PER; i++) {
			strs[i] = (struct oxp_str_def){ next + 2 * i * 7, oxp_str_c("x") };
			frames[i] = (struct oxp_frame_def){ next + (2 * i + 1) * 7, next, next, 4096 };
		}
		next += 2 * PER * 7;
		struct oxp_msg m = { .type = OXP_MSG_SAMPLES };
		m.u.samples = (struct oxp_samples){ .seq = (uint64_t)k + 1, .nstrings = PER,
			.strings = strs, .nframes = PER, .frames = frames };
		m.u.samples.stats.source = oxp_str_c("");
		oxp_buf_reset(&b);
		ASSERT_EQ(oxp_encode(&b, &m), 0);
		if (oxp_send_all(fd, b.data, b.len, 10000) < 0)
			break; /* the daemon had enough of us */
	}
	oxp_buf_destroy(&b);
	wait_closed(fd, 2000); /* let the daemon handle what was sent */
	return 0; /* fd stays open until released */
}

TEST_TIMEOUT(hostile_sparse_ids, 120)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	const char *args[] = { "--mem-budget", "8M", NULL };
	start(&d, args);
	struct hstatus st;
	status(&d, &st);
	long rss0 = rss_kb(&d);
	struct attacker at;
	int batches = scale(40, 175); /* 175 x 24000 x 2: 8.4 M ids */
	attack(&at, &d, NOBODY, sparse_flood, &batches);
	status(&d, &st);
	print_status("during the flood", &d, &st);
	ASSERT_MSG(st.mem_used <= st.mem_budget, "mem_used over budget");
	check_rss(rss_kb(&d) - rss0, st.mem_budget);
	const struct huid *u = uid_row(&st, NOBODY);
	ASSERT_MSG(u && u->refused_mem > 0, "nobody's refused charges are not shown");
	ASSERT_EQ(agent_as(&d, OTHER_UID, "/usr/bin/other-agent"), 0);
	release(&at);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* ---- partial frames ---- */

/* n agent connections, each holding 1 MiB - 1 of a frame, minus its last
 * byte. */
static int partial_frames(const struct oxt_daemon *d, void *arg)
{
	int n = *(int *)arg;
	size_t len = (1u << 20) - 1;
	uint8_t *junk = calloc(1, len + 4);
	ASSERT(junk);
	junk[0] = (uint8_t)(len >> 24);
	junk[1] = (uint8_t)(len >> 16);
	junk[2] = (uint8_t)(len >> 8);
	junk[3] = (uint8_t)len;
	for (int i = 0; i < n; i++) {
		int fd = raw_hello(d, OXP_ROLE_AGENT, "/bin/partial", "partial");
		if (fd < 0)
			continue;
		/* A short timeout: a refused connection is not waited for. */
		oxp_send_all(fd, junk, len + 3, 3000);
	}
	free(junk);
	return 0;
}

TEST_TIMEOUT(hostile_partial_frames, 120)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	const char *args[] = { "--mem-budget", "8M", NULL };
	start(&d, args);
	struct hstatus st;
	status(&d, &st);
	long rss0 = rss_kb(&d);
	struct attacker at;
	int n = scale(48, 1000);
	attack(&at, &d, NOBODY, partial_frames, &n);
	status(&d, &st);
	print_status("holding partial frames", &d, &st);
	ASSERT_MSG(st.mem_used <= st.mem_budget, "mem_used over budget");
	check_rss(rss_kb(&d) - rss0, st.mem_budget);
	const struct huid *u = uid_row(&st, NOBODY);
	ASSERT_MSG(u && u->refused_mem > 0, "nobody's refused charges are not shown");
	ASSERT_EQ(agent_as(&d, OTHER_UID, "/usr/bin/other-agent"), 0);
	ASSERT_EQ(agent_as(&d, 0, "/usr/bin/root-agent"), 0);
	release(&at);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* A partial frame must complete within --frame-timeout. */
static int one_partial(const struct oxt_daemon *d, void *arg)
{
	(void)arg;
	int fd = raw_hello(d, OXP_ROLE_AGENT, "/bin/partial", "partial");
	if (fd < 0)
		return 1;
	uint8_t head[8] = { 0, 0, 1, 0, 0x93, 1, 2 }; /* 256 bytes declared, 3 sent */
	if (oxp_send_all(fd, head, 7, 3000) < 0)
		return 2;
	return wait_closed(fd, 30000) ? 0 : 3;
}

TEST_TIMEOUT(hostile_partial_frame_timeout, 60)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	const char *args[] = { "--frame-timeout", "0.5", NULL };
	start(&d, args);
	struct attacker at;
	attack(&at, &d, NOBODY, one_partial, NULL);
	release(&at);
	ASSERT(oxt_daemon_log_has(&d, "--frame-timeout"));
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* ---- silent connections ---- */

static int silent_conns(const struct oxt_daemon *d, void *arg)
{
	int n = *(int *)arg, ok = 0;
	for (int i = 0; i < n; i++)
		ok += raw_hello(d, OXP_ROLE_AGENT, "/bin/silent", "silent") >= 0;
	printf("  nobody: %d of %d connections sent HELLO\n", ok, n);
	usleep(200000); /* only for the daemon to get round to them; no check depends on it */
	return 0;
}

/* 1024 silent agent connections by nobody against --max-connections 256
 * (a uid may hold a quarter): root's status and another user's agent still
 * get in. */
TEST_TIMEOUT(hostile_silent_conns, 120)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	const char *args[] = { "--max-connections", "256", NULL };
	start(&d, args);
	struct attacker at;
	int n = scale(1024, 1100); /* full: past the default 1024 a uid may hold */
	attack(&at, &d, NOBODY, silent_conns, &n);
	struct hstatus st;
	status(&d, &st);
	print_status("with nobody's silent connections", &d, &st);
	const struct huid *u = uid_row(&st, NOBODY);
	ASSERT_MSG(u && u->refused_conns > 0, "nobody's refused connections are not shown");
	ASSERT_EQ(agent_as(&d, OTHER_UID, "/usr/bin/other-agent"), 0);
	ASSERT_EQ(agent_as(&d, 0, "/usr/bin/root-agent"), 0);
	status(&d, &st);
	release(&at);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* ---- claims ---- */

static int send_fake_samples(int fd)
{
	static struct oxt_agent a;
	memset(&a, 0, sizeof(a));
	a.p.fd = fd;
	if (oxp_reader_init(&a.p.rd, 0) < 0 || oxp_decoder_new(&a.p.dec) < 0)
		return 1;
	oxp_buf_init(&a.p.out);
	struct oxp_msg m;
	if (oxt_recv(&a.p, &m, 10000) < 0 || m.type != OXP_MSG_WELCOME)
		return 2;
	oxt_agent_add(&a, 1, "sshd", "main;do_auth;leaf", 5000);
	struct oxp_samples_ack ack;
	return oxt_agent_flush(&a, &ack) == 0 ? 0 : 3;
}

static int fake_sshd(const struct oxt_daemon *d, void *arg)
{
	(void)arg;
	int fd = raw_hello(d, OXP_ROLE_AGENT, "/usr/sbin/sshd", "sshd: /usr/sbin/sshd -D");
	return fd < 0 ? 1 : send_fake_samples(fd);
}

TEST(hostile_fake_exe)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	start(&d, NULL);
	struct attacker at;
	attack(&at, &d, NOBODY, fake_sshd, NULL);
	struct hstatus st;
	status(&d, &st);
	print_status("with the fake sshd", &d, &st);
	const struct hrow *row = pid_row(&st, at.pid);
	ASSERT_MSG(row, "no row for the attacker (pid %d)", (int)at.pid);
	printf("  the attacker's row says exe %s (flags %u)\n", row->exe, row->flags);
	ASSERT_MSG(!strstr(row->exe, "sshd"), "the claimed exe was believed: %s", row->exe);
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_QUERY);
	c.sel.exe = oxp_str_c("sshd");
	struct oxt_result r;
	oxt_command(&p, &c, &r);
	printf("  query --exe sshd: code %d, total %llu\n", r.code,
	       (unsigned long long)r.head.total);
	ASSERT_MSG(r.code == -OXP_ENOMATCH || r.head.total == 0,
		   "query --exe sshd returned %llu fake samples", (unsigned long long)r.head.total);
	oxt_result_free(&r);
	c = oxt_cmd(OXP_CMD_UNPAUSE);
	c.sel.exe = oxp_str_c("sshd");
	oxt_command(&p, &c, &r);
	printf("  unpause --exe sshd: code %d, %u agents told\n", r.code, r.affected);
	ASSERT_EQ(r.affected, 0);
	oxt_peer_close(&p);
	release(&at);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/*
 * The connecting process is gone by the time HELLO arrives (its child
 * holds the socket): nothing can be verified, so the row says claimed,
 * and --exe still does not select it.
 */
/* A connection whose connecting process is gone (and reaped) by the time
 * it speaks: a child connects, hands the socket over and exits.  The fd,
 * or -1. */
static int orphan_fd(const struct oxt_daemon *d)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return -1;
	fflush(NULL);
	pid_t k = fork();
	if (k == 0) {
		int cfd;
		if (oxp_connect(d->sock, &cfd) < 0)
			_exit(1);
		char b = 0;
		struct iovec iov = { &b, 1 };
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &cfd, sizeof(int));
		_exit(sendmsg(sv[1], &mh, 0) == 1 ? 0 : 2);
	}
	int cfd = -1;
	char b;
	struct iovec iov = { &b, 1 };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	if (k > 0 && recvmsg(sv[0], &mh, 0) == 1 && CMSG_FIRSTHDR(&mh))
		memcpy(&cfd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
	close(sv[0]);
	close(sv[1]);
	if (k > 0 && waitpid(k, NULL, 0) != k) /* gone and reaped: no /proc/k */
		return -1;
	return cfd;
}

static int send_hello(int fd, const char *exe, const char *cmdline)
{
	struct oxp_buf bb;
	oxp_buf_init(&bb);
	struct oxp_msg m = { .type = OXP_MSG_HELLO };
	m.u.hello = (struct oxp_hello){ OXP_ROLE_AGENT, 1, oxp_str_c(exe), oxp_str_c(cmdline),
					oxp_str_c("liboxprof 0.1.0"), 0 };
	ASSERT_EQ(oxp_encode(&bb, &m), 0);
	int r = oxp_send_all(fd, bb.data, bb.len, 10000);
	oxp_buf_destroy(&bb);
	return r;
}

static int orphan_claim(const struct oxt_daemon *d, void *arg)
{
	(void)arg;
	int fd = orphan_fd(d);
	if (fd < 0)
		return 1;
	return send_hello(fd, "/usr/sbin/sshd", "sshd -D") < 0 ? 2 : send_fake_samples(fd);
}

/* Claims with big strings from processes that are gone: each is a row of
 * its own (a claim never takes over one), so they are what the budget
 * must stop. */
static int claim_flood(const struct oxt_daemon *d, void *arg)
{
	int n = *(int *)arg;
	for (int i = 0; i < n; i++) {
		int fd = orphan_fd(d);
		if (fd < 0)
			return 1;
		char *exe = big_string('e', 60000, (unsigned)i);
		char *cmd = big_string('c', 60000, (unsigned)i);
		send_hello(fd, exe, cmd);
		free(exe);
		free(cmd);
		struct oxt_peer p = { .fd = fd };
		struct oxp_msg m;
		ASSERT_EQ(oxp_reader_init(&p.rd, 0), 0);
		ASSERT_EQ(oxp_decoder_new(&p.dec), 0);
		oxt_recv(&p, &m, 10000); /* WELCOME or ERROR: the HELLO was handled */
		oxt_peer_close(&p);
	}
	return 0;
}

TEST_TIMEOUT(hostile_claim_flood, 120)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	const char *args[] = { "--mem-budget", "1M", NULL };
	start(&d, args);
	struct attacker at;
	int n = scale(200, 3000);
	attack(&at, &d, NOBODY, claim_flood, &n);
	release(&at);
	struct hstatus st;
	status(&d, &st);
	print_status("after the claim flood", &d, &st);
	ASSERT_MSG(st.mem_used <= st.mem_budget, "mem_used %llu over budget %llu",
		   (unsigned long long)st.mem_used, (unsigned long long)st.mem_budget);
	const struct huid *u = uid_row(&st, NOBODY);
	ASSERT_MSG(u && u->refused_mem > 0 && u->mem <= st.mem_budget / 2,
		   "nobody's claims were not held to its budget");
	ASSERT_EQ(agent_as(&d, 0, "/usr/bin/root-agent"), 0);
	ASSERT_EQ(agent_as(&d, OTHER_UID, "/usr/bin/other-agent"), 0);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

TEST(hostile_claim_unverifiable)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	start(&d, NULL);
	struct attacker at;
	attack(&at, &d, NOBODY, orphan_claim, NULL);
	struct hstatus st;
	status(&d, &st);
	print_status("with the unverifiable claim", &d, &st);
	const struct hrow *row = NULL;
	for (uint32_t i = 0; i < st.nrows; i++)
		if (st.rows[i].uid == NOBODY && st.rows[i].state != OXP_AGENT_EXITED)
			row = &st.rows[i];
	ASSERT_MSG(row, "no row for the claim");
	printf("  row: pid %d exe \"%s\" flags %u\n", (int)row->pid, row->exe, row->flags);
	ASSERT_MSG(row->flags & OXP_ROW_CLAIMED, "an unverifiable exe is not marked claimed");
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_QUERY);
	c.sel.exe = oxp_str_c("sshd");
	struct oxt_result r;
	oxt_command(&p, &c, &r);
	ASSERT_MSG(r.code == -OXP_ENOMATCH || r.head.total == 0,
		   "query --exe sshd returned %llu claimed samples",
		   (unsigned long long)r.head.total);
	oxt_result_free(&r);
	/* By exe and by process, the claim is a row of its own, marked. */
	c = oxt_cmd(OXP_CMD_QUERY);
	for (uint8_t by = OXP_BY_PROCESS; by <= OXP_BY_EXE; by++) {
		c.by = by;
		oxt_command(&p, &c, &r);
		ASSERT_EQ(r.code, 0);
		ASSERT_MSG(!oxt_row_named(&r, "/usr/sbin/sshd"), "a claim shows as /usr/sbin/sshd");
		const struct oxt_row *claim = oxt_row_named(&r, "[claimed] /usr/sbin/sshd");
		ASSERT_MSG(claim && claim->self == 5000, "no [claimed] row of 5000 samples");
		oxt_result_free(&r);
	}
	oxt_peer_close(&p);
	release(&at);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* ---- the control reserve ---- */

/* In a child as uid: status over a control connection; exit 0 if answered. */
static int status_as(const struct oxt_daemon *d, uid_t uid)
{
	fflush(NULL);
	pid_t kid = fork();
	ASSERT(kid >= 0);
	if (kid == 0) {
		become(uid, uid);
		struct hstatus st;
		int r = try_status(d, &st);
		if (r < 0)
			printf("  status as uid %u: %s\n", (unsigned)uid, oxp_strerror(r));
		_exit(r == 0 ? 0 : 1);
	}
	int st;
	ASSERT(waitpid(kid, &st, 0) == kid);
	ASSERT(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* Hold exactly *arg agent connections: refused ones are retried (other
 * connections may still be closing), so every ordinary slot ends up ours. */
static int hold_slots(const struct oxt_daemon *d, void *arg)
{
	int want = *(int *)arg, held = 0;
	for (int tries = 0; held < want && tries < 2000; tries++) {
		int fd = raw_hello(d, OXP_ROLE_AGENT, "/bin/silent", "silent");
		if (fd < 0)
			continue;
		struct oxt_peer p = { .fd = fd };
		struct oxp_msg m;
		ASSERT_EQ(oxp_reader_init(&p.rd, 0), 0);
		ASSERT_EQ(oxp_decoder_new(&p.dec), 0);
		int r = oxt_recv(&p, &m, 10000);
		int ok = r == 0 && m.type == OXP_MSG_WELCOME;
		oxp_reader_destroy(&p.rd);
		oxp_decoder_free(p.dec);
		if (ok) {
			held++;
			continue;
		}
		close(fd);
		usleep(20000);
	}
	return held == want ? 0 : 1;
}

/* nobody may hold every ordinary slot (a generous per-uid cap): users
 * allowed to control still get in, through the reserve. */
TEST(hostile_control_reserve)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	const char *args[] = { "--max-connections", "16", "--uid-max-connections", "100",
			       "--allow-user", "1", NULL };
	oxt_daemon_start(&d, args); /* small limits even under OXT_HOSTILE_FULL */
	ASSERT(chmod(d.dir, 0755) == 0);
	struct attacker at;
	int n = 16;
	attack(&at, &d, NOBODY, hold_slots, &n);
	struct hstatus st;
	status(&d, &st);
	print_status("nobody holds every ordinary slot", &d, &st);
	const struct huid *u = uid_row(&st, NOBODY);
	ASSERT_MSG(u && u->conns == 16, "nobody does not hold the 16 slots");
	ASSERT_EQ(status_as(&d, 1), 0); /* --allow-user 1 */
	ASSERT_EQ(agent_as(&d, 0, "/usr/bin/root-agent"), 0);
	ASSERT(agent_as(&d, 2, "/usr/bin/bin-agent") != 0); /* no reserve for uid 2 */
	release(&at);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}

/* ---- soak ---- */

/* nobody's side: every attack above, round after round, until released. */
static void soak_attacker(const struct oxt_daemon *d, int hold)
{
	for (int round = 0;; round++) {
		struct pollfd pf = { hold, POLLIN, 0 };
		if (poll(&pf, 1, 0) > 0)
			_exit(0); /* released (EOF) */
		int n = 50, batches = 8, partial = 64, silent = 1100, claims = 20;
		switch (round % 5) {
		case 0: hello_flood(d, &n); break;
		case 1: sparse_flood(d, &batches); break;
		case 2: partial_frames(d, &partial); break;
		case 3: silent_conns(d, &silent); break;
		default: claim_flood(d, &claims); break;
		}
		for (int fd = 3; fd < 8192; fd++) /* let go of what the round held */
			if (fd != hold)
				close(fd);
	}
}

/*
 * OXT_HOSTILE_SOAK=SECONDS: nobody runs every attack in turn for that long
 * against default budgets (or --mem-budget OXT_HOSTILE_SOAK_BUDGET), while three agents send 100 samples each per
 * round and root asks for status every round.  Checks: status is always
 * answered, mem_used never over budget, each agent's books exact, peak RSS
 * within the budget.  Skipped without the variable (a measurement).
 */
TEST_TIMEOUT(hostile_soak, 3600)
{
	const char *env = getenv("OXT_HOSTILE_SOAK");
	if (!env || skip_unless_root()) {
		OXT_SKIP("set OXT_HOSTILE_SOAK=SECONDS to run the soak");
	}
	int secs = atoi(env);
	struct oxt_daemon d;
	const char *budget_env = getenv("OXT_HOSTILE_SOAK_BUDGET"); /* e.g. 32M */
	const char *args[] = { "--mem-budget", budget_env, NULL };
	oxt_daemon_start(&d, budget_env ? args : NULL);
	ASSERT(chmod(d.dir, 0755) == 0);
	int hp[2];
	ASSERT(pipe(hp) == 0);
	fflush(NULL);
	pid_t kid = fork();
	ASSERT(kid >= 0);
	if (kid == 0) {
		close(hp[1]);
		become(NOBODY, NOGROUP);
		soak_attacker(&d, hp[0]);
	}
	close(hp[0]);
	static struct oxt_agent ag[3];
	uint64_t sent[3] = { 0 }, acc[3] = { 0 }, ref[3] = { 0 };
	static const char *const exes[3] = { "/usr/bin/soak-a", "/usr/bin/soak-b", "/usr/bin/soak-c" };
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(oxt_agent_join(&ag[i], &d, exes[i]), 0);
	uint64_t t0 = oxt_ms(), statuses = 0, max_used = 0, budget = 0;
	long max_rss = 0;
	struct hstatus st;
	while (oxt_ms() - t0 < (uint64_t)secs * 1000) {
		for (int i = 0; i < 3; i++) {
			char stack[64];
			snprintf(stack, sizeof(stack), "main;work_%d;leaf_%llu", i,
				 (unsigned long long)(statuses % 50));
			oxt_agent_add(&ag[i], 1, "main", stack, 100);
			struct oxp_samples_ack k;
			ASSERT_EQ(oxt_agent_flush(&ag[i], &k), 0);
			sent[i] += 100;
			acc[i] += k.accepted;
			ref[i] += k.refused;
		}
		status(&d, &st); /* asserts it is answered */
		statuses++;
		ASSERT_MSG(st.mem_used <= st.mem_budget, "mem_used %llu over budget %llu",
			   (unsigned long long)st.mem_used, (unsigned long long)st.mem_budget);
		max_used = st.mem_used > max_used ? st.mem_used : max_used;
		budget = st.mem_budget;
		long rss = rss_kb(&d);
		max_rss = rss > max_rss ? rss : max_rss;
		usleep(100000);
	}
	close(hp[1]);
	int ws;
	ASSERT(waitpid(kid, &ws, 0) == kid);
	status(&d, &st);
	print_status("after the soak", &d, &st);
	printf("  soak %d s: %llu statuses answered, peak mem_used %llu of %llu, peak RSS %ld KiB "
	       "(VmHWM %ld KiB)\n", secs, (unsigned long long)statuses,
	       (unsigned long long)max_used, (unsigned long long)budget, max_rss,
	       oxt_daemon_rss_kb(&d));
	for (int i = 0; i < 3; i++) {
		printf("  agent %s: sent %llu, accepted %llu, refused %llu\n", exes[i],
		       (unsigned long long)sent[i], (unsigned long long)acc[i],
		       (unsigned long long)ref[i]);
		ASSERT_EQ(acc[i] + ref[i], sent[i]);
		const struct hrow *row = pid_row(&st, getpid());
		ASSERT(row);
	}
	uint64_t total_acc = acc[0] + acc[1] + acc[2];
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_QUERY);
	c.sel.npids = 1;
	int32_t me = getpid();
	c.sel.pids = &me;
	struct oxt_result r;
	oxt_command(&p, &c, &r);
	ASSERT_EQ(r.head.total, total_acc); /* what was acknowledged is what is counted */
	oxt_result_free(&r);
	oxt_peer_close(&p);
	check_rss(oxt_daemon_rss_kb(&d) - 0, budget);
	for (int i = 0; i < 3; i++)
		oxt_agent_leave(&ag[i]);
	oxt_daemon_stop(&d);
	oxt_daemon_cleanup(&d);
}
