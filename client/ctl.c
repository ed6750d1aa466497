/* ctl.c - control connection to oxprofd; see ctl.h. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

#include "ox/clock.h"
#include "args.h"
#include "ctl.h"
#include "fail.h"

static int seterr(struct oxc_ctl *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int seterr(struct oxc_ctl *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return code;
}

const char *oxc_cmd_name(uint8_t cmd)
{
	static const char *const names[] = { "?", "status", "start", "stop", "pause",
					     "unpause", "reset", "query" };
	return cmd < sizeof(names) / sizeof(names[0]) ? names[cmd] : "?";
}

int oxc_ctl_path(char *buf, size_t len, const char *explicit_path)
{
	return oxp_socket_path(buf, len, explicit_path, 0, getenv);
}

/*
 * Like oxp_recv_msg, but keeps the peer's protocol version when it differs
 * from ours, so a mismatch can be reported with both numbers.
 */
static int recv_one(struct oxc_ctl *c, struct oxp_msg *m, int timeout_ms, uint32_t *peer)
{
	int64_t deadline = (int64_t)ox_mono_ms() + timeout_ms;
	for (;;) {
		const uint8_t *f;
		size_t flen;
		int e = oxp_reader_next(&c->rd, &f, &flen);
		if (e < 0)
			return e;
		if (e == 1)
			return oxp_decoder_decode(c->dec, f, flen, m, peer);
		uint8_t *p;
		size_t room;
		if ((e = oxp_reader_space(&c->rd, &p, &room)) < 0)
			return e;
		int64_t left = deadline - (int64_t)ox_mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		ssize_t got = recv(c->fd, p, room, MSG_DONTWAIT);
		if (got == 0)
			return -ECONNRESET;
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if ((e = oxp_reader_commit(&c->rd, (size_t)got)) < 0)
			return e;
	}
}

static int send_msg(struct oxc_ctl *c, const struct oxp_msg *m)
{
	oxp_buf_reset(&c->out);
	int r = oxp_encode(&c->out, m);
	if (r < 0)
		return r;
	return oxp_send_all(c->fd, c->out.data, c->out.len, OXC_REPLY_MS);
}

static int connect_error(struct oxc_ctl *c, int r)
{
	struct stat st;
	if (r == -OXP_ENODAEMON)
		return seterr(c, r, "no oxprofd at %s (%s): start one with `oxprofd`, "
			      "or `systemctl start oxprofd.socket`, or profile a single "
			      "program with `oxprofctl record -- CMD`", c->path,
			      stat(c->path, &st) == 0 ? "connection refused" : "no such socket");
	if (r == -EACCES || r == -EPERM)
		return seterr(c, -EPERM, "cannot connect to %s: permission denied by the socket's "
			      "file permissions (uid %u); ask the administrator for access "
			      "to oxprofd", c->path, (unsigned)getuid());
	if (r == -ENAMETOOLONG)
		return seterr(c, r, "socket path too long: %s", c->path);
	return seterr(c, r, "cannot connect to oxprofd at %s: %s", c->path, oxp_strerror(r));
}

/* The daemon answered HELLO with ERROR: say what it said. */
static int refused(struct oxc_ctl *c, const struct oxp_error_msg *e)
{
	int code = e->code < 0 ? e->code : -EPROTO;
	const char *msg = e->message.len ? e->message.ptr : oxp_strerror(code);
	int len = e->message.len ? (int)e->message.len : (int)strlen(msg);
	if (code == -EPERM)
		return seterr(c, code, "oxprofd at %s denied access: %.*s", c->path, len, msg);
	return seterr(c, code, "oxprofd at %s refused the connection: %.*s", c->path, len, msg);
}

static int transport_error(struct oxc_ctl *c, int r, uint32_t peer, const char *when)
{
	if (r == -OXP_EVERSION)
		return seterr(c, r, "protocol version mismatch: oxprofd at %s speaks protocol "
			      "version %u, this oxprofctl (%s) speaks version %d; use an "
			      "oxprofctl from the same release as the daemon", c->path,
			      (unsigned)peer, OXPROF_VERSION, OXP_PROTOCOL_VERSION);
	if (r == -ECONNRESET || r == -EPIPE)
		return seterr(c, -ECONNRESET, "oxprofd at %s closed the connection %s "
			      "(did it stop or crash? see its log)", c->path, when);
	if (r == -ETIMEDOUT)
		return seterr(c, r, "oxprofd at %s did not answer %s", c->path, when);
	return seterr(c, r, "bad answer from oxprofd at %s %s: %s", c->path, when,
		      oxp_strerror(r));
}

static int handshake(struct oxc_ctl *c, int timeout_ms)
{
	struct oxp_msg m = { .type = OXP_MSG_HELLO };
	m.u.hello.role = OXP_ROLE_CONTROL;
	m.u.hello.pid = (int32_t)getpid();
	m.u.hello.exe = oxp_str_c("oxprofctl");
	m.u.hello.cmdline = oxp_str_c("oxprofctl");
	m.u.hello.software = oxp_str_c("oxprofctl " OXPROF_VERSION);
	/* A daemon that refuses us may close before reading HELLO; its ERROR
	 * can still be waiting, so a failed send does not end the story. */
	int sent = send_msg(c, &m);
	uint32_t peer = OXP_PROTOCOL_VERSION;
	int r = recv_one(c, &m, sent < 0 ? 500 : timeout_ms, &peer);
	if (r < 0)
		return transport_error(c, sent < 0 && r != -OXP_EVERSION ? sent : r, peer,
				       "during the handshake");
	if (m.type == OXP_MSG_ERROR)
		return refused(c, &m.u.error);
	if (m.type != OXP_MSG_WELCOME)
		return seterr(c, -EPROTO, "oxprofd at %s answered HELLO with message type %u",
			      c->path, (unsigned)m.type);
	snprintf(c->software, sizeof(c->software), "%.*s", (int)m.u.welcome.software.len,
		 m.u.welcome.software.ptr ? m.u.welcome.software.ptr : "");
	c->fleet = m.u.welcome.fleet;
	return 0;
}

int oxc_ctl_open(struct oxc_ctl *c, const char *path, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	oxp_buf_init(&c->out);
	int r = oxp_reader_init(&c->rd, 0);
	if (r == 0)
		r = oxp_decoder_new(&c->dec);
	if (r < 0) {
		oxc_ctl_close(c);
		return seterr(c, r, "%s", oxp_strerror(r));
	}
	/* The agent's rule: a socket squatted by another user (say, in a
	 * /tmp/oxprof-0 that nobody made first) is not our daemon, and it must
	 * hear neither our commands nor, for record, our profile. */
	struct oxp_trust t;
	char why[sizeof(c->err) - 32];
	if ((r = oxp_trust_init(&t, getuid(), getenv, why, sizeof(why))) < 0 ||
	    (r = oxp_socket_trusted(&t, path, why, sizeof(why))) < 0) {
		if (r == -OXP_EUNTRUSTED || r == -EINVAL)
			seterr(c, r, "%s", why);
		else
			seterr(c, r, "cannot check %s: %s", path, oxp_strerror(r));
		oxc_ctl_close(c);
		return r;
	}
	r = oxp_connect(path, &c->fd);
	if (r < 0) {
		c->fd = -1;
		r = connect_error(c, r);
	} else if ((r = oxp_peer_trusted(&t, c->fd, path, why, sizeof(why))) < 0) {
		seterr(c, r, "%s", why);
	} else {
		r = handshake(c, timeout_ms);
	}
	if (r < 0)
		oxc_ctl_close(c);
	return r;
}

void oxc_ctl_close(struct oxc_ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->dec)
		oxp_decoder_free(c->dec);
	c->dec = NULL;
	oxp_reader_destroy(&c->rd);
	memset(&c->rd, 0, sizeof(c->rd));
	oxp_buf_destroy(&c->out);
}

/* "--pid 12 --exe foo", or "the selector" when it is too long to show. */
static void describe_selector(const struct oxp_selector *s, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < s->npids && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s--pid %d", n ? " " : "", (int)s->pids[i]);
	if (s->exe.len && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s--exe %.*s", n ? " " : "",
				      (int)s->exe.len, s->exe.ptr);
	if (s->tree && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s--tree %d", n ? " " : "", (int)s->tree);
	if (s->thread.len && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s--thread %.*s", n ? " " : "",
				      (int)s->thread.len, s->thread.ptr);
	if (n >= len)
		snprintf(buf, len, "the selector");
}

static int reply_error(struct oxc_ctl *c, const struct oxp_command *cmd)
{
	int code = c->reply_code;
	if (code == -OXP_ENOMATCH) {
		char sel[256];
		describe_selector(&cmd->sel, sel, sizeof(sel));
		return seterr(c, code, "no agent matches %s", sel[0] ? sel : "the selector");
	}
	if (code == -EPERM)
		return seterr(c, code, "oxprofd at %s denied %s: %s", c->path,
			      oxc_cmd_name(cmd->cmd),
			      c->reply_msg[0] ? c->reply_msg : "permission denied");
	return seterr(c, code, "%s failed: %s", oxc_cmd_name(cmd->cmd),
		      c->reply_msg[0] ? c->reply_msg : oxp_strerror(code));
}

/* Handle one message of a command's answer: 1 when it was the REPLY. */
static int dispatch(struct oxc_ctl *c, const struct oxp_command *cmd, const struct oxp_msg *m,
		    oxc_ctl_fn fn, void *arg)
{
	switch (m->type) {
	case OXP_MSG_REPLY:
		c->reply_code = m->u.reply.code;
		c->affected = m->u.reply.affected;
		snprintf(c->reply_msg, sizeof(c->reply_msg), "%.*s",
			 (int)m->u.reply.message.len,
			 m->u.reply.message.ptr ? m->u.reply.message.ptr : "");
		return c->reply_code ? reply_error(c, cmd) : 1;
	case OXP_MSG_ERROR:
		return refused(c, &m->u.error);
	case OXP_MSG_BYE:
		return seterr(c, -ECONNRESET, "oxprofd at %s is stopping (%.*s) and did not "
			      "finish the %s", c->path, (int)m->u.bye.reason.len,
			      m->u.bye.reason.ptr ? m->u.bye.reason.ptr : "", oxc_cmd_name(cmd->cmd));
	case OXP_MSG_STATUS:
	case OXP_MSG_QUERY_HEAD:
	case OXP_MSG_QUERY_ROWS:
		return fn ? fn(arg, m) : 0;
	}
	return seterr(c, -EPROTO, "oxprofd at %s sent unexpected message type %u",
		      c->path, (unsigned)m->type);
}

int oxc_ctl_command(struct oxc_ctl *c, const struct oxp_command *cmd, oxc_ctl_fn fn, void *arg)
{
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command = *cmd;
	c->reply_code = 0;
	c->affected = 0;
	c->reply_msg[0] = '\0';
	int r = send_msg(c, &m);
	if (r < 0)
		return transport_error(c, r, 0, "while the command was sent");
	for (;;) {
		uint32_t peer = OXP_PROTOCOL_VERSION;
		r = recv_one(c, &m, OXC_REPLY_MS, &peer);
		if (r < 0)
			return transport_error(c, r, peer, "before it finished its reply");
		r = dispatch(c, cmd, &m, fn, arg);
		if (r != 0)
			return r < 0 ? r : 0;
	}
}

void oxc_ctl_command_init(struct oxp_command *cmd, uint8_t code, const struct oxc_opts *o)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->cmd = code;
	cmd->mode = 0xff;
	cmd->sel.npids = o->npids;
	cmd->sel.pids = o->pids;
	cmd->sel.exe = oxp_str_c(o->exe ? o->exe : "");
	cmd->sel.thread = oxp_str_c(o->thread ? o->thread : "");
	cmd->sel.tree = o->tree;
	if (code == OXP_CMD_QUERY) {
		cmd->since_ms = o->since_ms;
		cmd->until_ms = o->until_ms;
	}
}

int oxc_ctl_fail(const struct oxc_ctl *c, int json, int code)
{
	return oxc_fail(json, code, "%s", c->err);
}

int oxc_ctl_connect(struct oxc_ctl *c, const struct oxc_opts *o)
{
	char path[sizeof(c->path)];
	if (oxc_ctl_path(path, sizeof(path), o->socket) < 0)
		return oxc_fail(o->json, -ENAMETOOLONG, "socket path too long");
	int r = oxc_ctl_open(c, path, OXC_HANDSHAKE_MS);
	return r < 0 ? oxc_ctl_fail(c, o->json, r) : 0;
}
