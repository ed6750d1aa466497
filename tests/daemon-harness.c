/* daemon-harness.c - see daemon-harness.h. */
#include "daemon-harness.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "task.h"

uint64_t oxt_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the daemon ---- */

pid_t oxt_daemon_spawn(struct oxt_daemon *d, const char *const *args)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = OXPROFD_PATH;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	/* The harness's agents are all this process: they name themselves. */
	argv[n++] = "--trust-claims";
	argv[n++] = "0";
	for (int i = 0; args && args[i] && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	fflush(NULL);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		unsetenv("JOURNAL_STREAM");
		unsetenv("NOTIFY_SOCKET");
		unsetenv("LISTEN_FDS");
		if (d->uid && (setgroups(1, &d->gid) < 0 || setgid(d->gid) < 0 ||
			       setuid(d->uid) < 0))
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void wait_ready(struct oxt_daemon *d)
{
	uint64_t t0 = oxt_ms();
	for (;;) {
		int fd;
		if (oxp_connect(d->sock, &fd) == 0) {
			close(fd);
			return;
		}
		int st;
		if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
			oxt_daemon_print_log(d);
			OXT_FAIL("oxprofd exited during start (status %d)", st);
		}
		ASSERT_MSG(oxt_ms() - t0 < 10000, "oxprofd did not start in 10 s");
		usleep(5000);
	}
}

void oxt_daemon_init(struct oxt_daemon *d)
{
	memset(d, 0, sizeof(*d));
	oxt_mkdtemp(d->dir, sizeof(d->dir), "oxt-daemon");
	ASSERT(chmod(d->dir, 0755) == 0);
	snprintf(d->sock, sizeof(d->sock), "%s/oxprof.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/oxprofd.log", d->dir);
	snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
	/* There before any daemon, for tests that start one their own way. */
	int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ASSERT(fd >= 0 && close(fd) == 0);
}

void oxt_daemon_start(struct oxt_daemon *d, const char *const *args)
{
	oxt_daemon_init(d);
	oxt_daemon_restart(d, args);
}

void oxt_daemon_restart(struct oxt_daemon *d, const char *const *args)
{
	d->pid = oxt_daemon_spawn(d, args);
	wait_ready(d);
}

double oxt_daemon_stop(struct oxt_daemon *d)
{
	uint64_t t0 = oxt_ms();
	ASSERT(kill(d->pid, SIGTERM) == 0);
	int st;
	ASSERT(waitpid(d->pid, &st, 0) == d->pid);
	d->pid = 0;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		oxt_daemon_print_log(d);
		OXT_FAIL("oxprofd did not exit 0 (status 0x%x)", st);
	}
	return (double)(oxt_ms() - t0);
}

void oxt_daemon_finish(struct oxt_daemon *d)
{
	oxt_daemon_stop(d);
	oxt_daemon_cleanup(d);
}

void oxt_daemon_kill9(struct oxt_daemon *d)
{
	kill(d->pid, SIGKILL);
	waitpid(d->pid, NULL, 0);
	d->pid = 0;
}

int oxt_daemon_alive(const struct oxt_daemon *d)
{
	return d->pid > 0 && waitpid(d->pid, NULL, WNOHANG) == 0;
}

int oxt_daemon_log_has(const struct oxt_daemon *d, const char *s)
{
	FILE *f = fopen(d->log, "r");
	if (!f)
		return 0;
	char line[4096];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, s) != NULL;
	fclose(f);
	return found;
}

void oxt_daemon_print_log(const struct oxt_daemon *d)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(d->log, "r");
	fprintf(stderr, "---- %s ----\n", d->log);
	while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	if (f)
		fclose(f);
	fprintf(stderr, "---- end of %s ----\n", d->log);
}

long oxt_daemon_status_kb(const struct oxt_daemon *d, const char *field)
{
	char path[64], line[256];
	size_t len = strlen(field);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)d->pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, field, len) == 0 && line[len] == ':')
			kb = strtol(line + len + 1, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

long oxt_daemon_rss_kb(const struct oxt_daemon *d)
{
	return oxt_daemon_status_kb(d, "VmHWM");
}

const char *oxt_daemon_env(struct oxt_daemon *d)
{
	snprintf(d->env, sizeof(d->env), "OXPROF_SOCKET=%s", d->sock);
	return d->env;
}

void oxt_daemon_cleanup(struct oxt_daemon *d)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
	ASSERT(system(cmd) == 0);
}

/* ---- peers ---- */

int oxt_send(struct oxt_peer *p, const struct oxp_msg *m)
{
	oxp_buf_reset(&p->out);
	int r = oxp_encode(&p->out, m);
	ASSERT_MSG(r == 0, "encode: %s", oxp_strerror(r));
	return oxp_send_all(p->fd, p->out.data, p->out.len, OXT_IO_MS);
}

int oxt_recv(struct oxt_peer *p, struct oxp_msg *m, int timeout_ms)
{
	return oxp_recv_msg(p->fd, &p->rd, p->dec, m, timeout_ms);
}

uint64_t oxt_hello_instance;

int oxt_peer_open(struct oxt_peer *p, const struct oxt_daemon *d, int role, const char *exe,
		  char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	ASSERT_EQ(oxp_connect(d->sock, &p->fd), 0);
	ASSERT_EQ(oxp_reader_init(&p->rd, 0), 0);
	ASSERT_EQ(oxp_decoder_new(&p->dec), 0);
	oxp_buf_init(&p->out);
	struct oxp_msg m = { .type = OXP_MSG_HELLO };
	m.u.hello = (struct oxp_hello){ (uint8_t)role, (int32_t)getpid(), oxp_str_c(exe),
					oxp_str_c(exe), oxp_str_c("oxt-harness 0"),
					role == OXP_ROLE_AGENT ? oxt_hello_instance : 0,
					role == OXP_ROLE_AGENT ? (int32_t)getppid() : 0 };
	ASSERT_EQ(oxt_send(p, &m), 0);
	int r = oxt_recv(p, &m, OXT_IO_MS);
	if (r < 0)
		return r;
	if (m.type == OXP_MSG_ERROR) {
		if (err)
			snprintf(err, errlen, "%.*s", (int)m.u.error.message.len,
				 m.u.error.message.ptr);
		return m.u.error.code;
	}
	ASSERT_EQ(m.type, OXP_MSG_WELCOME);
	p->welcome = m.u.welcome;
	p->welcome.software = (struct oxp_str){ 0 };
	return 0;
}

void oxt_peer_close(struct oxt_peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	oxp_reader_destroy(&p->rd);
	oxp_decoder_free(p->dec);
	p->dec = NULL;
	oxp_buf_destroy(&p->out);
}

/* ---- control ---- */

struct oxp_command oxt_cmd(uint8_t cmd)
{
	struct oxp_command c = { .cmd = cmd, .mode = 0xff };
	return c;
}

static char *dup_str(struct oxp_str s)
{
	char *p = malloc(s.len + 1);
	ASSERT(p);
	memcpy(p, s.ptr, s.len);
	p[s.len] = 0;
	return p;
}

static void keep_status(const struct oxp_status *s, struct oxt_status *st)
{
	memset(st, 0, sizeof(*st));
	st->fleet = s->fleet;
	st->mem_used = s->mem_used;
	st->mem_budget = s->mem_budget;
	st->samples = s->samples;
	st->dropped = s->dropped;
	st->refused_conns = s->refused_conns;
	st->uptime_ms = s->uptime_ms;
	for (uint32_t i = 0; i < s->nagents && i < 64; i++) {
		const struct oxp_agent_row *a = &s->agents[i];
		struct oxt_agent_row *o = &st->agents[st->nagents++];
		o->pid = a->pid;
		o->uid = a->uid;
		snprintf(o->exe, sizeof(o->exe), "%.*s", (int)a->exe.len, a->exe.ptr);
		snprintf(o->source, sizeof(o->source), "%.*s", (int)a->source.len, a->source.ptr);
		o->state = a->state;
		o->samples = a->samples;
		o->dropped_agent = a->dropped_agent;
		o->dropped_daemon = a->dropped_daemon;
		o->taken = a->taken;
		o->sent = a->sent;
		o->last_batch_ms = a->last_batch_ms;
		o->hz_requested = a->hz_requested;
	}
}

static struct oxt_status *status_out;

void oxt_command(struct oxt_peer *p, const struct oxp_command *c, struct oxt_result *r)
{
	memset(r, 0, sizeof(*r));
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command = *c;
	ASSERT_EQ(oxt_send(p, &m), 0);
	size_t cap = 0;
	for (;;) {
		int e = oxt_recv(p, &m, OXT_IO_MS);
		ASSERT_MSG(e == 0, "reading the reply: %s", oxp_strerror(e));
		if (m.type == OXP_MSG_REPLY) {
			r->code = m.u.reply.code;
			r->affected = m.u.reply.affected;
			snprintf(r->msg, sizeof(r->msg), "%.*s", (int)m.u.reply.message.len,
				 m.u.reply.message.ptr);
			return;
		}
		if (m.type == OXP_MSG_STATUS && status_out)
			keep_status(&m.u.status, status_out);
		else if (m.type == OXP_MSG_QUERY_HEAD)
			r->head = m.u.query_head;
		else if (m.type == OXP_MSG_QUERY_ROWS) {
			r->nframes++;
			const struct oxp_query_rows *q = &m.u.query_rows;
			if (r->nrows + q->nrows > cap) {
				cap = (r->nrows + q->nrows) * 2;
				r->rows = realloc(r->rows, cap * sizeof(*r->rows));
				ASSERT(r->rows);
			}
			for (uint32_t i = 0; i < q->nrows; i++) {
				const struct oxp_row *x = &q->rows[i];
				r->rows[r->nrows++] = (struct oxt_row){ dup_str(x->name),
					dup_str(x->module), x->pid, x->tid, x->self, x->total };
			}
		} else
			ASSERT_MSG(m.type == OXP_MSG_STATUS, "unexpected message type %u", m.type);
	}
}

void oxt_result_free(struct oxt_result *r)
{
	for (size_t i = 0; i < r->nrows; i++) {
		free(r->rows[i].name);
		free(r->rows[i].module);
	}
	free(r->rows);
	r->rows = NULL;
	r->nrows = 0;
}

const struct oxt_row *oxt_row_named(const struct oxt_result *r, const char *name)
{
	for (size_t i = 0; i < r->nrows; i++)
		if (strcmp(r->rows[i].name, name) == 0)
			return &r->rows[i];
	return NULL;
}

void oxt_status(const struct oxt_daemon *d, struct oxt_status *st)
{
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_STATUS);
	struct oxt_result r;
	status_out = st;
	oxt_command(&p, &c, &r);
	status_out = NULL;
	ASSERT_EQ(r.code, 0);
	oxt_peer_close(&p);
}

const struct oxt_agent_row *oxt_status_pid(const struct oxt_status *st, int32_t pid)
{
	for (uint32_t i = 0; i < st->nagents; i++)
		if (st->agents[i].pid == pid)
			return &st->agents[i];
	return NULL;
}

int oxt_simple(const struct oxt_daemon *d, uint8_t cmd, struct oxt_result *r)
{
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(cmd);
	oxt_command(&p, &c, r);
	oxt_peer_close(&p);
	return r->code;
}

void oxt_wait_agent_state(const struct oxt_daemon *d, int32_t pid, uint8_t state, int timeout_ms)
{
	uint64_t t0 = oxt_ms();
	for (;;) {
		struct oxt_status st;
		oxt_status(d, &st);
		const struct oxt_agent_row *a = oxt_status_pid(&st, pid);
		if (a && a->state == state)
			return;
		ASSERT_MSG(oxt_ms() - t0 < (uint64_t)timeout_ms,
			   "pid %d never reached state %u (now %d)", (int)pid, state, a ? a->state : -1);
		usleep(10000);
	}
}

int oxt_wait_row(const struct oxt_daemon *d, int32_t pid,
		 int (*pred)(const struct oxt_agent_row *), int timeout_ms,
		 struct oxt_agent_row *row)
{
	for (uint64_t t0 = oxt_ms(); oxt_ms() - t0 < (uint64_t)timeout_ms; usleep(50000)) {
		struct oxt_status st;
		oxt_status(d, &st);
		const struct oxt_agent_row *r = oxt_status_pid(&st, pid);
		if (r && pred(r)) {
			*row = *r;
			return 0;
		}
	}
	return -1;
}
