/*
 * test-daemon-fault.c - hostile and broken peers, limits and budgets: the
 * daemon answers with an error, drops the peer, stays within its memory,
 * and keeps serving a well-behaved client throughout.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "task.h"

/* A well-behaved client still gets its status. */
static void still_serves(const struct oxt_daemon *d)
{
	ASSERT(oxt_daemon_alive(d));
	struct oxt_status st;
	oxt_status(d, &st);
}

static int raw_connect(const struct oxt_daemon *d)
{
	int fd;
	ASSERT_EQ(oxp_connect(d->sock, &fd), 0);
	return fd;
}

/* Read the ERROR the daemon sends before closing; returns its code and
 * checks the connection is then closed. */
static int expect_error(int fd, char *msg, size_t len)
{
	struct oxp_reader r;
	struct oxp_decoder *dec;
	struct oxp_msg m;
	ASSERT_EQ(oxp_reader_init(&r, 0), 0);
	ASSERT_EQ(oxp_decoder_new(&dec), 0);
	int e = oxp_recv_msg(fd, &r, dec, &m, 10000);
	ASSERT_MSG(e == 0, "no ERROR: %s", oxp_strerror(e));
	ASSERT_EQ(m.type, OXP_MSG_ERROR);
	int code = m.u.error.code;
	if (msg)
		snprintf(msg, len, "%.*s", (int)m.u.error.message.len, m.u.error.message.ptr);
	ASSERT_EQ(oxp_recv_msg(fd, &r, dec, &m, 10000), -ECONNRESET);
	oxp_decoder_free(dec);
	oxp_reader_destroy(&r);
	close(fd);
	return code;
}

static void send_raw(int fd, const void *p, size_t n)
{
	ASSERT_EQ(oxp_send_all(fd, p, n, 5000), 0);
}

static void hello_frame(struct oxp_buf *b, int role)
{
	struct oxp_msg m = { .type = OXP_MSG_HELLO };
	m.u.hello = (struct oxp_hello){ (uint8_t)role, 1, oxp_str_c("/x"), oxp_str_c("x"),
					oxp_str_c("t"), 0, 0 };
	oxp_buf_init(b);
	ASSERT_EQ(oxp_encode(b, &m), 0);
}

TEST(daemon_fault_malformed_frames)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent good;
	ASSERT_EQ(oxt_agent_join(&good, &d, "/bin/good"), 0);
	/* Not msgpack. */
	int fd = raw_connect(&d);
	send_raw(fd, "\0\0\0\5\xc1\xc1\xc1\xc1\xc1", 9);
	int c = expect_error(fd, NULL, 0);
	ASSERT(c == -EBADMSG || c == -OXP_ESHAPE);
	/* Zero length. */
	fd = raw_connect(&d);
	send_raw(fd, "\0\0\0\0", 4);
	ASSERT_EQ(expect_error(fd, NULL, 0), -EBADMSG);
	/* Well-formed msgpack of the wrong shape: [version, 1, "x"]. */
	fd = raw_connect(&d);
	char shape[] = "\0\0\0\5\x93\x02\x01\xa1x";
	shape[5] = OXP_PROTOCOL_VERSION;
	send_raw(fd, shape, 9);
	ASSERT_EQ(expect_error(fd, NULL, 0), -OXP_ESHAPE);
	/* A map, which the protocol refuses. */
	fd = raw_connect(&d);
	send_raw(fd, "\0\0\0\1\x80", 5);
	c = expect_error(fd, NULL, 0);
	ASSERT(c == -OXP_ESHAPE || c == -EBADMSG);
	/* A COMMAND before HELLO. */
	fd = raw_connect(&d);
	struct oxp_buf b;
	oxp_buf_init(&b);
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command = oxt_cmd(OXP_CMD_STATUS);
	ASSERT_EQ(oxp_encode(&b, &m), 0);
	send_raw(fd, b.data, b.len);
	ASSERT_EQ(expect_error(fd, NULL, 0), -OXP_ESHAPE);
	/* An agent that uses a frame id it never defined. */
	struct oxt_agent bad;
	ASSERT_EQ(oxt_agent_join(&bad, &d, "/bin/bad"), 0);
	struct oxp_stack st = { 1, 0, 5, 1, (const uint32_t[]){ 77 } };
	struct oxp_thread_def td = { 1, 0 };
	struct oxp_str_def sd = { 0, oxp_str_c("t") };
	m = (struct oxp_msg){ .type = OXP_MSG_SAMPLES };
	m.u.samples = (struct oxp_samples){ 1, 1, &sd, 0, NULL, 1, &td, 1, &st, { 0 }, 0, NULL, 0, 0 };
	ASSERT_EQ(oxt_send(&bad.p, &m), 0);
	ASSERT_EQ(expect_error(dup(bad.p.fd), NULL, 0), -OXP_ESHAPE);
	oxt_agent_leave(&bad);
	/* The good agent never noticed. */
	oxt_agent_add(&good, 1, "main", "main;ok", 3);
	struct oxp_samples_ack ack;
	ASSERT_EQ(oxt_agent_flush(&good, &ack), 0);
	ASSERT_EQ(ack.accepted, 3);
	struct oxt_status s;
	oxt_status(&d, &s);
	ASSERT_EQ(s.samples, 3);
	ASSERT(s.refused_conns >= 6);
	oxp_buf_destroy(&b);
	oxt_agent_leave(&good);
	oxt_daemon_finish(&d);
}

TEST(daemon_fault_oversized_length_refused_before_buffering)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	int fd = raw_connect(&d);
	/* Only the header: the daemon must not wait for 4 GiB. */
	send_raw(fd, "\xff\xff\xff\xf0", 4);
	ASSERT_EQ(expect_error(fd, NULL, 0), -EMSGSIZE);
	fd = raw_connect(&d);
	uint8_t hdr[4] = { 0, 0x10, 0, 1 }; /* 1 MiB + 1 */
	send_raw(fd, hdr, 4);
	ASSERT_EQ(expect_error(fd, NULL, 0), -EMSGSIZE);
	still_serves(&d);
	oxt_daemon_finish(&d);
}

TEST(daemon_fault_wrong_version_names_both)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxp_buf b;
	hello_frame(&b, OXP_ROLE_CONTROL);
	ASSERT_EQ(b.data[4], 0x93); /* [version, type, body] */
	ASSERT_EQ(b.data[5], OXP_PROTOCOL_VERSION);
	b.data[5] = 7;
	int fd = raw_connect(&d);
	send_raw(fd, b.data, b.len);
	char msg[512];
	ASSERT_EQ(expect_error(fd, msg, sizeof(msg)), -OXP_EVERSION);
	char ours[32];
	snprintf(ours, sizeof(ours), "version %d", OXP_PROTOCOL_VERSION);
	ASSERT_MSG(strstr(msg, "version 7") && strstr(msg, ours), "%s", msg);
	oxp_buf_destroy(&b);
	still_serves(&d);
	oxt_daemon_finish(&d);
}

TEST_TIMEOUT(daemon_fault_slow_client_is_bounded, 30)
{
	struct oxt_daemon d;
	const char *args[] = { "--handshake-timeout", "2", "--idle-timeout", "2", NULL };
	oxt_daemon_start(&d, args);
	struct oxp_buf b;
	hello_frame(&b, OXP_ROLE_CONTROL);
	/* One byte per second of a HELLO: dropped at the handshake timeout. */
	int fd = raw_connect(&d);
	uint64_t t0 = oxt_ms();
	size_t i;
	for (i = 0; i < b.len; i++) {
		if (send(fd, b.data + i, 1, MSG_NOSIGNAL) != 1)
			break;
		still_serves(&d);
		struct pollfd p = { fd, POLLIN, 0 };
		if (poll(&p, 1, 1000) > 0)
			break; /* the daemon answered: the ERROR */
	}
	ASSERT_EQ(expect_error(fd, NULL, 0), -ETIMEDOUT);
	/* Cut off mid-message (a byte a second would take b.len seconds),
	 * whatever the machine's speed: no bound on how long it took. */
	printf("  slow HELLO cut off after %zu of %zu bytes, %llu ms\n", i, b.len,
	       (unsigned long long)(oxt_ms() - t0));
	ASSERT_MSG(i < b.len, "the whole HELLO went out before the daemon cut it off");
	/* Then a slow command on an established control connection. */
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_CONTROL, "slow", NULL, 0), 0);
	oxp_buf_reset(&b);
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command = oxt_cmd(OXP_CMD_STATUS);
	ASSERT_EQ(oxp_encode(&b, &m), 0);
	t0 = oxt_ms();
	for (i = 0; i < b.len; i++) {
		if (send(p.fd, b.data + i, 1, MSG_NOSIGNAL) != 1)
			break;
		struct pollfd q = { p.fd, POLLIN, 0 };
		if (poll(&q, 1, 1000) > 0)
			break;
	}
	ASSERT_EQ(expect_error(dup(p.fd), NULL, 0), -ETIMEDOUT);
	printf("  slow COMMAND cut off after %zu of %zu bytes, %llu ms\n", i, b.len,
	       (unsigned long long)(oxt_ms() - t0));
	ASSERT_MSG(i < b.len, "the whole COMMAND went out before the daemon cut it off");
	oxt_peer_close(&p);
	oxp_buf_destroy(&b);
	still_serves(&d);
	oxt_daemon_finish(&d);
}

static void raise_nofile(rlim_t want)
{
	struct rlimit rl;
	ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
		ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
	}
}

TEST(daemon_fault_500_connections_at_once)
{
	raise_nofile(4096); /* the daemon inherits it */
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	enum { N = 500 };
	static int fds[N];
	struct oxp_buf hello;
	hello_frame(&hello, OXP_ROLE_AGENT);
	for (int i = 0; i < N; i++) {
		fds[i] = raw_connect(&d);
		if (i % 2 == 0)
			send_raw(fds[i], hello.data, hello.len);
	}
	still_serves(&d);
	/* Every agent got its WELCOME. */
	for (int i = 0; i < N; i += 2) {
		struct oxp_reader r;
		struct oxp_decoder *dec;
		struct oxp_msg m;
		oxp_reader_init(&r, 0);
		oxp_decoder_new(&dec);
		ASSERT_EQ(oxp_recv_msg(fds[i], &r, dec, &m, 10000), 0);
		ASSERT_EQ(m.type, OXP_MSG_WELCOME);
		oxp_decoder_free(dec);
		oxp_reader_destroy(&r);
	}
	struct oxt_status st;
	oxt_status(&d, &st);
	printf("  500 connections held, daemon peak RSS %ld KiB\n", oxt_daemon_rss_kb(&d));
	for (int i = 0; i < N; i++)
		close(fds[i]);
	still_serves(&d);
	oxp_buf_destroy(&hello);
	oxt_daemon_finish(&d);
}

TEST(daemon_fault_max_connections_refused_with_error)
{
	struct oxt_daemon d;
	const char *args[] = { "--max-connections", "20", "--control-reserve", "0", NULL };
	oxt_daemon_start(&d, args);
	usleep(100000); /* the harness's readiness probe has gone */
	int fds[20];
	for (int i = 0; i < 20; i++)
		fds[i] = raw_connect(&d);
	usleep(100000);
	char msg[256];
	ASSERT_EQ(expect_error(raw_connect(&d), msg, sizeof(msg)), -EBUSY);
	ASSERT(strstr(msg, "max-connections"));
	for (int i = 0; i < 20; i++)
		close(fds[i]);
	usleep(100000);
	still_serves(&d);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT(st.refused_conns >= 1);
	oxt_daemon_finish(&d);
}

/* An agent that defines nfuncs functions, then floods unique stacks. */
struct flood {
	struct oxt_peer *p;
	uint64_t sent, accepted, refused;
	uint32_t seq;
};

static void flood_batch(struct flood *f, int define, uint32_t nfuncs, uint32_t nstacks,
			unsigned *rng)
{
	static struct oxp_str_def sd[256];
	static struct oxp_frame_def fd[256];
	static struct oxp_stack st[2048];
	static uint32_t ids[2048 * 24];
	static char names[256][32];
	struct oxp_thread_def td = { 1, 0 };
	for (uint32_t i = 0; define && i < nfuncs; i++) {
		snprintf(names[i], sizeof(names[i]), "func_%u", i);
		sd[i] = (struct oxp_str_def){ i, oxp_str_c(names[i]) };
		fd[i] = (struct oxp_frame_def){ i, i, 0, i };
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < nstacks; i++) {
		uint32_t depth = 8 + rand_r(rng) % 16;
		st[i] = (struct oxp_stack){ 1, 0, 1 + (uint32_t)rand_r(rng) % 3, depth, ids + k };
		for (uint32_t j = 0; j < depth; j++)
			ids[k++] = (uint32_t)rand_r(rng) % nfuncs;
		f->sent += st[i].count;
	}
	struct oxp_msg m = { .type = OXP_MSG_SAMPLES };
	m.u.samples = (struct oxp_samples){ ++f->seq, define ? nfuncs : 0, sd, define ? nfuncs : 0,
					    fd, define ? 1 : 0, &td, nstacks, st, { 0 }, 0, NULL, 0, 0 };
	m.u.samples.stats.source = oxp_str_c("flood");
	ASSERT_EQ(oxt_send(f->p, &m), 0);
	for (;;) {
		ASSERT_EQ(oxt_recv(f->p, &m, 10000), 0);
		if (m.type == OXP_MSG_SAMPLES_ACK)
			break;
	}
	ASSERT_EQ(m.u.samples_ack.seq, f->seq);
	ASSERT_EQ(m.u.samples_ack.accepted + m.u.samples_ack.refused,
		  f->sent - f->accepted - f->refused);
	f->accepted += m.u.samples_ack.accepted;
	f->refused += m.u.samples_ack.refused;
}

TEST(daemon_fault_flood_stays_in_budget_and_counts_drops)
{
	struct oxt_daemon d;
	const char *args[] = { "--mem-budget", "8M", "--agent-mem-budget", "6M", NULL };
	oxt_daemon_start(&d, args);
	struct oxt_peer a1, a2;
	ASSERT_EQ(oxt_peer_open(&a1, &d, OXP_ROLE_AGENT, "/bin/flood1", NULL, 0), 0);
	ASSERT_EQ(oxt_peer_open(&a2, &d, OXP_ROLE_AGENT, "/bin/flood2", NULL, 0), 0);
	struct flood f1 = { &a1, 0, 0, 0, 0 }, f2 = { &a2, 0, 0, 0, 0 };
	unsigned rng = 12345;
	for (int b = 0; b < 100; b++) {
		flood_batch(&f1, b == 0, 200, 2000, &rng);
		flood_batch(&f2, b == 0, 200, 2000, &rng);
	}
	ASSERT(f1.refused > 0 && f2.refused > 0); /* the budgets were reached */
	struct oxt_status st;
	oxt_status(&d, &st);
	printf("  flood: %llu samples sent, %llu accepted, %llu refused; mem %llu of %llu; "
	       "daemon peak RSS %ld KiB\n",
	       (unsigned long long)(f1.sent + f2.sent), (unsigned long long)st.samples,
	       (unsigned long long)st.dropped, (unsigned long long)st.mem_used,
	       (unsigned long long)st.mem_budget, oxt_daemon_rss_kb(&d));
	ASSERT(st.mem_used <= st.mem_budget);
	ASSERT_EQ(st.samples, f1.accepted + f2.accepted);
	ASSERT_EQ(st.dropped, f1.refused + f2.refused);
	ASSERT_EQ(st.samples + st.dropped, f1.sent + f2.sent);
	ASSERT_EQ(st.nagents, 2);
	for (int i = 0; i < 2; i++) {
		const struct oxt_agent_row *r = &st.agents[i];
		const struct flood *f = strcmp(r->exe, "/bin/flood1") == 0 ? &f1 : &f2;
		ASSERT_EQ(r->samples, f->accepted);
		ASSERT_EQ(r->dropped_daemon, f->refused);
	}
	/* What was accepted is exactly what a query counts. */
	struct oxt_peer c;
	ASSERT_EQ(oxt_peer_open(&c, &d, OXP_ROLE_CONTROL, "q", NULL, 0), 0);
	struct oxp_command q = oxt_cmd(OXP_CMD_QUERY);
	q.by = OXP_BY_STACK;
	struct oxt_result r;
	oxt_command(&c, &q, &r);
	uint64_t sum = 0;
	for (size_t i = 0; i < r.nrows; i++)
		sum += r.rows[i].self;
	ASSERT_EQ(sum, st.samples);
	ASSERT_EQ(r.head.total, st.samples);
	oxt_result_free(&r);
	oxt_peer_close(&c);
	oxt_peer_close(&a1);
	oxt_peer_close(&a2);
	oxt_daemon_finish(&d);
}

TEST(daemon_fault_client_that_does_not_read)
{
	struct oxt_daemon d;
	const char *args[] = { "--idle-timeout", "2", NULL };
	oxt_daemon_start(&d, args);
	/* A big aggregate, so a folded query is many MiB. */
	struct oxt_peer ag;
	ASSERT_EQ(oxt_peer_open(&ag, &d, OXP_ROLE_AGENT, "/bin/big", NULL, 0), 0);
	struct flood f = { &ag, 0, 0, 0, 0 };
	unsigned rng = 7;
	for (int b = 0; b < 20; b++)
		flood_batch(&f, b == 0, 200, 2000, &rng);
	long rss0 = oxt_daemon_rss_kb(&d);
	/* Ask for it 200 times and never read. */
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_CONTROL, "deaf", NULL, 0), 0);
	int sz = 4096;
	setsockopt(p.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command = oxt_cmd(OXP_CMD_QUERY);
	m.u.command.by = OXP_BY_STACK;
	for (int i = 0; i < 200; i++)
		if (oxt_send(&p, &m) < 0)
			break;
	for (int i = 0; i < 10; i++) {
		usleep(100000);
		still_serves(&d);
	}
	long rss1 = oxt_daemon_rss_kb(&d);
	printf("  deaf client: daemon peak RSS %ld -> %ld KiB\n", rss0, rss1);
	ASSERT_MSG(rss1 - rss0 < 64 * 1024, "memory grew by %ld KiB", rss1 - rss0);
	/* Dropped once idle for the timeout. */
	usleep(2500000);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT(oxt_daemon_log_has(&d, "idle or not reading"));
	oxt_peer_close(&p);
	oxt_peer_close(&ag);
	oxt_daemon_finish(&d);
}
