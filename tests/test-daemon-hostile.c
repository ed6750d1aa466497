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
#include "hostile.h"
#include "task.h"

/* ---- HELLO flood ---- */

char *big_string(char c, size_t n, unsigned salt)
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

int hello_flood(const struct oxt_daemon *d, void *arg)
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
	oxt_daemon_finish(&d);
}

/* ---- sparse id flood ---- */

/* One agent connection defines ~1 M sparse string and frame ids (the
 * same string and frame each time, so the aggregate does not grow): only
 * the per-connection id maps do. */
int sparse_flood(const struct oxt_daemon *d, void *arg)
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
	oxt_daemon_finish(&d);
}

/* ---- partial frames ---- */

/* n agent connections, each holding 1 MiB - 1 of a frame, minus its last
 * byte. */
int partial_frames(const struct oxt_daemon *d, void *arg)
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
	oxt_daemon_finish(&d);
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
	oxt_daemon_finish(&d);
}

/* ---- silent connections ---- */

int silent_conns(const struct oxt_daemon *d, void *arg)
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
	oxt_daemon_finish(&d);
}
