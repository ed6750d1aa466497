/*
 * test-client-fake.c - the real oxprofctl binary against a scripted fake
 * daemon on a temporary socket: the error paths a real daemon rarely takes
 * (access denied, another protocol version, dying mid-reply, BYE), what the
 * client puts in COMMAND, and how it renders STATUS and query answers.
 *
 * The fake (fake-daemon.h) serves one connection in a
 * forked child; the child's exit code says whether what the client sent was
 * right.  CTL_FAKE is the fixture: fake up, oxprofctl run, verdict checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake-daemon.h"
#include "oxp/oxp.h"
#include "task.h"

#ifndef OXT_OXPROFCTL
#error "OXT_OXPROFCTL must name the oxprofctl binary"
#endif

/* ---- running oxprofctl ---- */

struct run {
	int code;
	char out[16384];
	char err[4096];
};

static void slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, len - 1) : 0;
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	unlink(path);
}

/* Run oxprofctl with args (NULL-terminated); stdout and stderr captured. */
static void ctl(struct run *r, const char **args)
{
	char out[] = "/tmp/oxt-out-XXXXXX", err[] = "/tmp/oxt-err-XXXXXX";
	int ofd = mkstemp(out), efd = mkstemp(err);
	ASSERT(ofd >= 0 && efd >= 0);
	pid_t p = fork();
	ASSERT(p >= 0);
	if (p == 0) {
		char *argv[32] = { (char *)"oxprofctl" };
		for (int i = 0; args[i] && i < 30; i++)
			argv[i + 1] = (char *)args[i];
		dup2(ofd, 1);
		dup2(efd, 2);
		unsetenv("OXPROF_SOCKET");
		execv(OXT_OXPROFCTL, argv);
		_exit(99);
	}
	close(ofd);
	close(efd);
	int st;
	ASSERT(waitpid(p, &st, 0) == p);
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
}
#define CTL(r, ...) ctl(r, (const char *[]){ __VA_ARGS__, NULL })

/* The fixture: oxprofctl --socket FAKE args, against a fake daemon that
 * serves script; asserts the script found what the client sent right. */
static void ctl_fake(struct run *r, oxt_fake_fn script, const char **args)
{
	struct oxt_fake f;
	const char *argv[32] = { "--socket" };
	int n = 2;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	oxt_fake_start(&f, script);
	argv[1] = f.sock;
	ctl(r, argv);
	ASSERT_EQ(oxt_fake_finish(&f), 0);
}
#define CTL_FAKE(r, script, ...) ctl_fake(r, script, (const char *[]){ __VA_ARGS__, NULL })

#define ASSERT_HAS(hay, needle) \
	ASSERT_MSG(strstr(hay, needle), "expected \"%s\" in:\n%s", needle, hay)

/* Whether text is one valid JSON document (jq, else python3). */
static int json_ok(const char *text)
{
	char path[] = "/tmp/oxt-json-XXXXXX";
	int fd = mkstemp(path);
	ASSERT(fd >= 0);
	ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "python3 -m json.tool %s >/dev/null 2>&1", path);
	int rc = system(cmd);
	unlink(path);
	return rc == 0;
}

static struct run res;

/* ---- scenarios ---- */

TEST(client_no_daemon)
{
	CTL(&res, "--socket", "/tmp/oxt-nonexistent/oxprof.sock", "status");
	ASSERT_EQ(res.code, 1);
	ASSERT_HAS(res.err, "oxprofctl: no oxprofd at /tmp/oxt-nonexistent/oxprof.sock");
	ASSERT_HAS(res.err, "start one with `oxprofd`");
	ASSERT_HAS(res.err, "systemctl start oxprofd.socket");
	ASSERT_HAS(res.err, "oxprofctl record -- CMD");
	ASSERT(strchr(res.err, '\n') == res.err + strlen(res.err) - 1); /* one line */
	/* A socket file nobody listens on. */
	char dir[] = "/tmp/oxt-client-XXXXXX";
	ASSERT(mkdtemp(dir));
	char sock[64];
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, sock);
	ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	close(fd);
	CTL(&res, "query", "--socket", sock, "--json");
	ASSERT_EQ(res.code, 1);
	ASSERT_HAS(res.err, "connection refused");
	ASSERT(json_ok(res.out));
	ASSERT_HAS(res.out, "\"code\": -1003");
	unlink(sock);
	rmdir(dir);
}

static int deny(int fd, struct oxp_reader *r, struct oxp_decoder *d)
{
	struct oxp_msg m;
	if (oxt_fake_expect(fd, r, d, &m, OXP_MSG_HELLO))
		return -1;
	m.type = OXP_MSG_ERROR;
	m.u.error.code = -EPERM;
	m.u.error.message = oxp_str_c("uid 4242 may not control oxprofd: root, the daemon's "
				      "user and allow-user/allow-group may");
	oxt_fake_send(fd, &m);
	return 0;
}

TEST(client_permission_denied)
{
	CTL_FAKE(&res, deny, "pause");
	ASSERT_EQ(res.code, 1);
	ASSERT_HAS(res.err, "denied access: uid 4242 may not control oxprofd");
	ASSERT_HAS(res.err, "allow-user");
}

/* WELCOME from a daemon speaking the next protocol version. */
static int newer(int fd, struct oxp_reader *r, struct oxp_decoder *d)
{
	struct oxp_msg m;
	if (oxt_fake_expect(fd, r, d, &m, OXP_MSG_HELLO))
		return -1;
	struct oxp_buf b;
	oxp_buf_init(&b);
	m.type = OXP_MSG_WELCOME;
	m.u.welcome.software = oxp_str_c("oxprofd 2.0");
	m.u.welcome.fleet = (struct oxp_fleet){ 0, 0, 100, 128 };
	m.u.welcome.seq = 1;
	m.u.welcome.flush_ms = 100;
	if (oxp_encode(&b, &m))
		return -1;
	/* [version, type, body]: fixarray(3) then the version, a fixint. */
	if (b.data[4] != 0x93 || b.data[5] != OXP_PROTOCOL_VERSION)
		return -1;
	b.data[5] = OXP_PROTOCOL_VERSION + 1;
	oxp_send_all(fd, b.data, b.len, 2000);
	oxp_buf_destroy(&b);
	return 0;
}

TEST(client_version_mismatch)
{
	CTL_FAKE(&res, newer, "status");
	ASSERT_EQ(res.code, 1);
	ASSERT_HAS(res.err, "protocol version mismatch");
	char want[64];
	snprintf(want, sizeof(want), "speaks protocol version %d", OXP_PROTOCOL_VERSION + 1);
	ASSERT_HAS(res.err, want);
	snprintf(want, sizeof(want), "speaks version %d", OXP_PROTOCOL_VERSION);
	ASSERT_HAS(res.err, want);
}

/* Answers a query with its head, then goes away. */
static int dies(int fd, struct oxp_reader *r, struct oxp_decoder *d)
{
	struct oxp_msg m;
	if (oxt_fake_handshake(fd, r, d, &m) || m.u.command.cmd != OXP_CMD_QUERY)
		return -1;
	m.type = OXP_MSG_QUERY_HEAD;
	m.u.query_head = (struct oxp_query_head){ .total = 10, .first_ms = 1, .last_ms = 2,
						   .nrows = 5, .nprocs = 1 };
	oxt_fake_send(fd, &m);
	return 0;
}

TEST(client_daemon_dies_mid_reply)
{
	CTL_FAKE(&res, dies, "query");
	ASSERT_EQ(res.code, 1);
	ASSERT_HAS(res.err, "closed the connection before it finished its reply");
	ASSERT_EQ(res.out[0], '\0'); /* no half table */
}

static int bye(int fd, struct oxp_reader *r, struct oxp_decoder *d)
{
	struct oxp_msg m;
	if (oxt_fake_handshake(fd, r, d, &m))
		return -1;
	m.type = OXP_MSG_BYE;
	m.u.bye.reason = oxp_str_c("SIGTERM");
	oxt_fake_send(fd, &m);
	return 0;
}

TEST(client_daemon_says_bye)
{
	CTL_FAKE(&res, bye, "status");
	ASSERT_EQ(res.code, 1);
	ASSERT_HAS(res.err, "is stopping (SIGTERM)");
}

/* A selector that matches nothing: the COMMAND carries it, REPLY says so. */
static int nomatch(int fd, struct oxp_reader *r, struct oxp_decoder *d)
{
	struct oxp_msg m;
	if (oxt_fake_handshake(fd, r, d, &m))
		return -1;
	const struct oxp_command *c = &m.u.command;
	int ok = c->cmd == OXP_CMD_PAUSE && c->sel.npids == 2 && c->sel.pids[0] == 42 &&
		 c->sel.pids[1] == 43 && c->sel.exe.len == 3 && !memcmp(c->sel.exe.ptr, "app", 3);
	oxt_fake_reply(fd, -OXP_ENOMATCH, "no agent matches", 0);
	return ok ? 0 : -1;
}

TEST(client_selector_matches_nothing)
{
	CTL_FAKE(&res, nomatch, "pause", "--pid", "42", "--pid", "43", "--exe", "app");
	ASSERT_EQ(res.code, 1);
	ASSERT_HAS(res.err, "no agent matches --pid 42 --pid 43 --exe app");
}

/* start --hz --mode --depth arrive as fields; REPLY.affected is shown. */
static int start_ok(int fd, struct oxp_reader *r, struct oxp_decoder *d)
{
	struct oxp_msg m;
	if (oxt_fake_handshake(fd, r, d, &m))
		return -1;
	const struct oxp_command *c = &m.u.command;
	int ok = c->cmd == OXP_CMD_START && c->hz == 4000 && c->mode == OXP_MODE_WALL &&
		 c->depth == 32 && c->sel.npids == 0 && c->sel.exe.len == 0;
	oxt_fake_reply(fd, 0, "", 3);
	return ok ? 0 : -1;
}

TEST(client_start_sends_parameters)
{
	CTL_FAKE(&res, start_ok, "start", "--hz", "4000", "--mode", "wall", "--depth", "32",
	    "--json");
	ASSERT_EQ(res.code, 0);
	ASSERT(json_ok(res.out));
	ASSERT_HAS(res.out, "\"command\": \"start\"");
	ASSERT_HAS(res.out, "\"affected\": 3");
}

static int status_ok(int fd, struct oxp_reader *r, struct oxp_decoder *d)
{
	struct oxp_msg m;
	if (oxt_fake_handshake(fd, r, d, &m) || m.u.command.cmd != OXP_CMD_STATUS)
		return -1;
	struct oxp_agent_row rows[2] = {
		{ .pid = 1234, .uid = 0, .exe = oxp_str_c("/usr/bin/web\"server\n"),
		  .state = OXP_AGENT_RUNNING, .hz_requested = 1000, .hz_achieved = 998.5,
		  .source = oxp_str_c("perf-task-clock"), .samples = 50000, .dropped_agent = 3,
		  .dropped_daemon = 2, .unwind_fail = 1, .connected_ms = 1700000000000ull,
		  .last_batch_ms = 1700000001000ull, .taken = 50005, .sent = 50002 },
		{ .pid = 99, .uid = 65534, .exe = oxp_str_c("/opt/w\xff"),
		  .state = OXP_AGENT_DISABLED, .mode = 1, .hz_requested = 100,
		  .source = oxp_str_c("seccomp refused perf_event_open"), .connected_ms = 1 },
	};
	m.type = OXP_MSG_STATUS;
	m.u.status = (struct oxp_status){ oxp_str_c("oxprofd 9.9.9-fake"), 7380000,
					  { 1, 0, 1000, 128 }, 1536, 256u << 20, 50000, 2, 7, 2, rows,
					  0, 0, 0, NULL, 0, 0, 0, 0, 0, 0 };
	oxt_fake_send(fd, &m);
	oxt_fake_reply(fd, 0, "", 0);
	return 0;
}

TEST(client_status_text_and_json)
{
	CTL_FAKE(&res, status_ok, "status");
	ASSERT_EQ(res.code, 0);
	ASSERT_HAS(res.out, "oxprofd 9.9.9-fake");
	ASSERT_HAS(res.out, "up 2h 03m");
	ASSERT_HAS(res.out, "running, cpu mode, 1000 Hz, depth 128");
	ASSERT_HAS(res.out, "1.5 KiB of 256.0 MiB");
	ASSERT_HAS(res.out, "998/1000");
	ASSERT_HAS(res.out, "/usr/bin/web\"server?\n");
	ASSERT_HAS(res.out, "perf-task-clock");
	ASSERT_HAS(res.out, "disabled");
	ASSERT_HAS(res.out, "\n1234  root    running");
	CTL_FAKE(&res, status_ok, "--json", "status");
	ASSERT_EQ(res.code, 0);
	ASSERT_MSG(json_ok(res.out), "not JSON:\n%s", res.out);
	ASSERT_HAS(res.out, "\"uptime_ms\": 7380000");
	ASSERT_HAS(res.out, "\"state\": \"running\"");
	ASSERT_HAS(res.out, "\"exe\": \"/usr/bin/web\\\"server\\n\"");
	ASSERT_HAS(res.out, "\"hz_achieved\": 998.5");
	ASSERT_HAS(res.out, "\"source\": \"seccomp refused perf_event_open\"");
	ASSERT_HAS(res.out, "\"refused_connections\": 7");
	ASSERT_HAS(res.out, "\"taken\": 50005");
	ASSERT_HAS(res.out, "\"exe\": \"/opt/w\\ufffd\"");
}

/* A query by thread, sorted by total, filtered: check every field sent. */
static int query_ok(int fd, struct oxp_reader *r, struct oxp_decoder *d)
{
	struct oxp_msg m;
	if (oxt_fake_handshake(fd, r, d, &m))
		return -1;
	const struct oxp_command *c = &m.u.command;
	int ok = c->cmd == OXP_CMD_QUERY && c->by == OXP_BY_THREAD && c->sort == OXP_SORT_TOTAL &&
		 c->limit == 7 && c->sel.npids == 1 && c->sel.pids[0] == 5 &&
		 c->sel.thread.len == 6 && !memcmp(c->sel.thread.ptr, "worker", 6);
	m.type = OXP_MSG_QUERY_HEAD;
	m.u.query_head = (struct oxp_query_head){ .total = 300, .first_ms = 1700000000000ull, .last_ms = 1700000004000ull,
						   .nrows = 2, .nprocs = 1 };
	oxt_fake_send(fd, &m);
	struct oxp_row rows[2] = {
		{ oxp_str_c("worker-1"), oxp_str_c(""), 5, 6, 200, 200, 0, NULL },
		{ oxp_str_c("main"), oxp_str_c(""), 5, 5, 100, 100, 0, NULL },
	};
	m.type = OXP_MSG_QUERY_ROWS;
	m.u.query_rows = (struct oxp_query_rows){ .nrows = 1, .rows = rows };
	oxt_fake_send(fd, &m);
	m.u.query_rows = (struct oxp_query_rows){ .nrows = 1, .rows = rows + 1 };
	oxt_fake_send(fd, &m);
	oxt_fake_reply(fd, 0, "", 0);
	return ok ? 0 : -1;
}

TEST(client_query_sends_filters)
{
	CTL_FAKE(&res, query_ok, "query", "--by", "thread", "--sort", "total", "--limit", "7",
	    "--pid", "5", "--thread", "worker");
	ASSERT_EQ(res.code, 0);
	ASSERT_HAS(res.out, "300 samples from 1 process over 4.0 s");
	ASSERT_HAS(res.out, "\nSELF%  TOTAL%  SELF  TOTAL  PID  TID  THREAD\n"
			    "66.7%   66.7%   200    200    5    6  worker-1\n"
			    "33.3%   33.3%   100    100    5    5  main\n");
}

/* Folded output: by=stack and no limit are asked for, lines sum to total. */
static int folded_ok(int fd, struct oxp_reader *r, struct oxp_decoder *d)
{
	struct oxp_msg m;
	if (oxt_fake_handshake(fd, r, d, &m))
		return -1;
	int ok = m.u.command.by == OXP_BY_STACK && m.u.command.limit == 0;
	m.type = OXP_MSG_QUERY_HEAD;
	m.u.query_head = (struct oxp_query_head){ .total = 100, .first_ms = 1, .last_ms = 2,
						   .nrows = 3, .nprocs = 1 };
	oxt_fake_send(fd, &m);
	struct oxp_row rows[3] = {
		{ oxp_str_c("main;a;leaf_a"), oxp_str_c(""), 0, 0, 60, 60, 0, NULL },
		{ oxp_str_c("main;b;leaf_b"), oxp_str_c(""), 0, 0, 30, 30, 0, NULL },
		{ oxp_str_c("main;leaf_c"), oxp_str_c(""), 0, 0, 10, 10, 0, NULL },
	};
	m.type = OXP_MSG_QUERY_ROWS;
	m.u.query_rows = (struct oxp_query_rows){ .nrows = 3, .rows = rows };
	oxt_fake_send(fd, &m);
	oxt_fake_reply(fd, 0, "", 0);
	return ok ? 0 : -1;
}

TEST(client_query_folded)
{
	CTL_FAKE(&res, folded_ok, "query", "--format", "folded");
	ASSERT_EQ(res.code, 0);
	ASSERT_STREQ(res.out, "main;a;leaf_a 60\nmain;b;leaf_b 30\nmain;leaf_c 10\n");
}

TEST(client_usage_errors)
{
	CTL(&res, "frobnicate");
	ASSERT_EQ(res.code, 2);
	ASSERT_HAS(res.err, "unknown command 'frobnicate'");
	CTL(&res, "query", "--colour");
	ASSERT_EQ(res.code, 2);
	ASSERT_HAS(res.err, "unknown option --colour");
	ASSERT_HAS(res.err, "usage: oxprofctl query");
	CTL(&res, "status", "extra");
	ASSERT_EQ(res.code, 2);
	CTL(&res, "record");
	ASSERT_EQ(res.code, 2);
	CTL(&res, "record", "--format", "table", "--", "true");
	ASSERT_EQ(res.code, 2);
	ctl(&res, (const char *[]){ NULL });
	ASSERT_EQ(res.code, 2);
	CTL(&res, "help", "nope");
	ASSERT_EQ(res.code, 2);
	/* Help everywhere, exit 0, on stdout. */
	CTL(&res, "--help");
	ASSERT_EQ(res.code, 0);
	ASSERT_HAS(res.out, "record");
	CTL(&res, "query", "-h");
	ASSERT_EQ(res.code, 0);
	ASSERT_HAS(res.out, "--by GROUP");
	CTL(&res, "help", "record");
	ASSERT_EQ(res.code, 0);
	ASSERT_HAS(res.out, "-o FILE");
	CTL(&res, "help", "--json");
	ASSERT_EQ(res.code, 0);
	ASSERT(json_ok(res.out));
	CTL(&res, "version", "--json", "--socket", "/tmp/oxt-nonexistent.sock");
	ASSERT_EQ(res.code, 0);
	ASSERT(json_ok(res.out));
	char want[32];
	snprintf(want, sizeof(want), "\"protocol\": %d", OXP_PROTOCOL_VERSION);
	ASSERT_HAS(res.out, want);
}
