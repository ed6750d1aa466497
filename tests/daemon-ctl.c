/* daemon-ctl.c - see daemon-ctl.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon-ctl.h"
#include "task.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0)
		;
}

pid_t oxt_daemon_start(const char *sock, const char *const *extra)
{
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		const char *argv[32] = { OXPROFD_PATH, "--socket", sock, "--log-level", "warn" };
		int n = 5;
		for (int i = 0; extra && extra[i] && n < 31; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		execv(OXPROFD_PATH, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		int fd;
		if (oxp_connect(sock, &fd) == 0) {
			close(fd);
			return pid;
		}
		int st;
		ASSERT_MSG(waitpid(pid, &st, WNOHANG) == 0, "oxprofd exited at start (status %d)", st);
		sleep_ms(50);
	}
	OXT_FAIL("oxprofd did not answer at %s", sock);
}

int oxt_daemon_stop(pid_t pid, int sig)
{
	int st = 0;
	kill(pid, sig);
	ASSERT(waitpid(pid, &st, 0) == pid);
	return st;
}

static int send_msg(int fd, const struct oxp_msg *m)
{
	struct oxp_buf b;
	oxp_buf_init(&b);
	int r = oxp_encode(&b, m);
	if (r == 0)
		r = oxp_send_all(fd, b.data, b.len, 2000);
	oxp_buf_destroy(&b);
	return r;
}

struct ctl {
	int fd;
	struct oxp_reader rd;
	struct oxp_decoder *dec;
};

static void ctl_open(struct ctl *c, const char *sock)
{
	ASSERT_EQ(oxp_connect(sock, &c->fd), 0);
	ASSERT_EQ(oxp_reader_init(&c->rd, 0), 0);
	ASSERT_EQ(oxp_decoder_new(&c->dec), 0);
	struct oxp_msg m = { .type = OXP_MSG_HELLO };
	m.u.hello = (struct oxp_hello){ OXP_ROLE_CONTROL, (int32_t)getpid(), oxp_str_c(""),
					oxp_str_c(""), oxp_str_c("oxprof-tests") };
	ASSERT_EQ(send_msg(c->fd, &m), 0);
	ASSERT_EQ(oxp_recv_msg(c->fd, &c->rd, c->dec, &m, 5000), 0);
	ASSERT_EQ(m.type, OXP_MSG_WELCOME);
}

static void ctl_close(struct ctl *c)
{
	close(c->fd);
	oxp_reader_destroy(&c->rd);
	oxp_decoder_free(c->dec);
}

int oxt_ctl_open(const char *sock)
{
	struct ctl c;
	ctl_open(&c, sock);
	oxp_reader_destroy(&c.rd);
	oxp_decoder_free(c.dec);
	return c.fd;
}

/* Send a command; call each data message to fn; return REPLY's code. */
static int ctl_run(struct ctl *c, const struct oxp_command *cmd, uint32_t *affected,
		   void (*fn)(const struct oxp_msg *, void *), void *arg)
{
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command = *cmd;
	ASSERT_EQ(send_msg(c->fd, &m), 0);
	for (;;) {
		int r = oxp_recv_msg(c->fd, &c->rd, c->dec, &m, 5000);
		ASSERT_MSG(r == 0, "no reply from oxprofd: %s", oxp_strerror(r));
		if (m.type == OXP_MSG_REPLY) {
			if (affected)
				*affected = m.u.reply.affected;
			return m.u.reply.code;
		}
		ASSERT_MSG(m.type != OXP_MSG_ERROR, "oxprofd: %.*s", (int)m.u.error.message.len,
			   m.u.error.message.ptr);
		if (fn)
			fn(&m, arg);
	}
}

int oxt_ctl_cmd(const char *sock, uint8_t cmd, int32_t pid, uint32_t *affected)
{
	struct ctl c;
	ctl_open(&c, sock);
	struct oxp_command k = { .cmd = cmd, .mode = 0xff };
	if (pid) {
		k.sel.npids = 1;
		k.sel.pids = &pid;
	}
	int r = ctl_run(&c, &k, affected, NULL, NULL);
	ctl_close(&c);
	return r;
}

struct row_arg {
	int32_t pid;
	struct oxp_agent_row *row;
	int found;
};

static void on_status(const struct oxp_msg *m, void *arg)
{
	struct row_arg *a = arg;
	if (m->type != OXP_MSG_STATUS)
		return;
	for (uint32_t i = 0; i < m->u.status.nagents; i++)
		if (m->u.status.agents[i].pid == a->pid) {
			*a->row = m->u.status.agents[i];
			a->row->exe = a->row->source = oxp_str_c("");
			a->found = 1;
		}
}

int oxt_agent_row(const char *sock, int32_t pid, struct oxp_agent_row *row)
{
	struct ctl c;
	struct row_arg a = { pid, row, 0 };
	struct oxp_command k = { .cmd = OXP_CMD_STATUS, .mode = 0xff };
	ctl_open(&c, sock);
	ASSERT_EQ(ctl_run(&c, &k, NULL, on_status, &a), 0);
	ctl_close(&c);
	return a.found ? 0 : -ENOENT;
}

int oxt_wait_row(const char *sock, int32_t pid, int (*pred)(const struct oxp_agent_row *),
		 int timeout_ms, struct oxp_agent_row *row)
{
	for (int t = 0; t <= timeout_ms; t += 50) {
		if (oxt_agent_row(sock, pid, row) == 0 && (!pred || pred(row)))
			return 0;
		sleep_ms(50);
	}
	return -ETIMEDOUT;
}

struct q_arg {
	const char *name;
	uint64_t self, total;
};

static void on_query(const struct oxp_msg *m, void *arg)
{
	struct q_arg *q = arg;
	if (m->type == OXP_MSG_QUERY_HEAD)
		q->total = m->u.query_head.total;
	if (m->type != OXP_MSG_QUERY_ROWS)
		return;
	for (uint32_t i = 0; i < m->u.query_rows.nrows; i++) {
		const struct oxp_row *r = &m->u.query_rows.rows[i];
		if (r->name.len == strlen(q->name) && !memcmp(r->name.ptr, q->name, r->name.len))
			q->self += r->self;
	}
}

int oxt_query_self(const char *sock, int32_t pid, const char *name, uint64_t *self,
		   uint64_t *total)
{
	struct ctl c;
	struct q_arg q = { name, 0, 0 };
	struct oxp_command k = { .cmd = OXP_CMD_QUERY, .mode = 0xff, .by = OXP_BY_FUNCTION };
	if (pid) {
		k.sel.npids = 1;
		k.sel.pids = &pid;
	}
	ctl_open(&c, sock);
	int r = ctl_run(&c, &k, NULL, on_query, &q);
	ctl_close(&c);
	*self = q.self;
	*total = q.total;
	return r;
}

struct f_arg {
	char **names;
	uint32_t n, cap, dups;
	uint64_t sum;
};

static void on_folded(const struct oxp_msg *m, void *arg)
{
	struct f_arg *q = arg;
	if (m->type != OXP_MSG_QUERY_ROWS)
		return;
	for (uint32_t i = 0; i < m->u.query_rows.nrows; i++) {
		const struct oxp_row *r = &m->u.query_rows.rows[i];
		for (uint32_t j = 0; j < q->n; j++)
			if (strlen(q->names[j]) == r->name.len &&
			    !memcmp(q->names[j], r->name.ptr, r->name.len))
				q->dups++;
		if (q->n == q->cap) {
			q->cap = q->cap ? q->cap * 2 : 64;
			q->names = realloc(q->names, q->cap * sizeof(*q->names));
			ASSERT(q->names);
		}
		q->names[q->n++] = strndup(r->name.ptr, r->name.len);
		q->sum += r->self;
	}
}

int oxt_query_folded(const char *sock, int32_t pid, uint32_t *rows, uint32_t *dups,
		     uint64_t *sum)
{
	struct ctl c;
	struct f_arg q = { 0 };
	struct oxp_command k = { .cmd = OXP_CMD_QUERY, .mode = 0xff, .by = OXP_BY_STACK };
	if (pid) {
		k.sel.npids = 1;
		k.sel.pids = &pid;
	}
	ctl_open(&c, sock);
	int r = ctl_run(&c, &k, NULL, on_folded, &q);
	ctl_close(&c);
	*rows = q.n;
	*dups = q.dups;
	*sum = q.sum;
	for (uint32_t i = 0; i < q.n; i++)
		free(q.names[i]);
	free(q.names);
	return r;
}
