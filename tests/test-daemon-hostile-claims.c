/*
 * test-daemon-hostile-claims.c - nobody claims to be another program (a
 * fake exe, a flood of claims, claims that cannot be verified) and tries to
 * take the control reserve.
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
	oxt_daemon_finish(&d);
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
					oxp_str_c("liboxprof 0.1.0"), 0, 0 };
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
int claim_flood(const struct oxt_daemon *d, void *arg)
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
	oxt_daemon_finish(&d);
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
	oxt_daemon_finish(&d);
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
	oxt_daemon_finish(&d);
}
