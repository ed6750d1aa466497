/*
 * hostile.c - the attacker's kit for test-daemon-hostile* (hostile.h).
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
#include "hostile.h"
#include "task.h"

int skip_unless_root(void)
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
int full_size(void)
{
	return getenv("OXT_HOSTILE_FULL") != NULL;
}

int scale(int small, int full)
{
	return full_size() ? full : small;
}

/* Start oxprofd with args (its private dir is 0755: nobody reaches the
 * socket). */
void start(struct oxt_daemon *d, const char *const *args)
{
	oxt_daemon_start(d, full_size() ? NULL : args);
}

long rss_kb(const struct oxt_daemon *d)
{
	return oxt_daemon_status_kb(d, "VmRSS");
}

void check_rss(long grown_kb, uint64_t budget)
{
	printf("  RSS grew by %ld KiB (budget %llu KiB)\n", grown_kb,
	       (unsigned long long)budget / 1024);
	if (!OXT_RSS_MEANINGFUL)
		return;
	ASSERT_MSG(grown_kb * 1024 <= (long)budget + (8 << 20), "RSS grew %ld KiB, budget %llu",
		   grown_kb, (unsigned long long)budget);
}


int try_status(const struct oxt_daemon *d, struct hstatus *st)
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

void status(const struct oxt_daemon *d, struct hstatus *st)
{
	int r = try_status(d, st);
	ASSERT_MSG(r == 0, "root's status was not answered: %s", oxp_strerror(r));
}

const struct huid *uid_row(const struct hstatus *st, uint32_t uid)
{
	for (uint32_t i = 0; i < st->nuids; i++)
		if (st->uids[i].uid == uid)
			return &st->uids[i];
	return NULL;
}

const struct hrow *pid_row(const struct hstatus *st, int32_t pid)
{
	for (uint32_t i = 0; i < st->nrows; i++)
		if (st->rows[i].pid == pid && st->rows[i].state != OXP_AGENT_EXITED)
			return &st->rows[i];
	return NULL;
}

void print_status(const char *when, const struct oxt_daemon *d, const struct hstatus *st)
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


void become(uid_t uid, gid_t gid)
{
	struct rlimit rl = { 8192, 8192 };
	setrlimit(RLIMIT_NOFILE, &rl); /* as root, before dropping it */
	signal(SIGPIPE, SIG_IGN);
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		_exit(99);
}

void attack(struct attacker *at, const struct oxt_daemon *d, uid_t uid, attack_fn fn,
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

void release(struct attacker *at)
{
	close(at->hold);
	close(at->ready);
	int st;
	ASSERT(waitpid(at->pid, &st, 0) == at->pid);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "attacker exit status 0x%x", st);
}

/* Connect and send a HELLO without waiting for the answer; the fd or -1. */
int raw_hello(const struct oxt_daemon *d, int role, const char *exe, const char *cmdline)
{
	int fd;
	if (oxp_connect(d->sock, &fd) < 0)
		return -1;
	struct oxp_buf b;
	oxp_buf_init(&b);
	struct oxp_msg m = { .type = OXP_MSG_HELLO };
	m.u.hello = (struct oxp_hello){ (uint8_t)role, 1, oxp_str_c(exe), oxp_str_c(cmdline),
					oxp_str_c("liboxprof 0.1.0"), 0, 0 };
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
int wait_closed(int fd, int timeout_ms)
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
int agent_as(const struct oxt_daemon *d, uid_t uid, const char *exe)
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

