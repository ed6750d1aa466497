/*
 * conn.c - the agent's connection to oxprofd: connect with capped
 * exponential backoff and jitter, check who the daemon is, handshake, and
 * handle what the daemon sends.  Drain thread only; nonblocking I/O with
 * MSG_NOSIGNAL so a vanished daemon never raises SIGPIPE in the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent.h"
#include "host/log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 10000

void oxa_conn_init(struct oxa_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	oxp_buf_init(&c->out);
}

void oxa_conn_destroy(struct oxa_conn *c)
{
	oxa_fd_close(c->fd, &c->fd_id);
	c->fd = -1;
	if (c->dec) {
		oxp_decoder_free(c->dec);
		oxp_reader_destroy(&c->rd);
	}
	c->dec = NULL;
	oxp_buf_destroy(&c->out);
	free(c->held.b);
	free(c->held.r);
	c->held = (struct oxa_held){ 0 };
}

static void schedule_retry(struct oxa_conn *c)
{
	unsigned b = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (b > BACKOFF_MAX_MS)
		b = BACKOFF_MAX_MS;
	c->backoff_ms = b;
	/* +-25% jitter, so a fleet does not reconnect in lockstep. */
	unsigned j = (unsigned)rand() % (b / 2 + 1);
	c->next_try_ms = ox_mono_ms() + b - b / 4 + j;
}

void oxa_conn_close(struct oxa_agent *a, const char *why)
{
	struct oxa_conn *c = &a->conn;
	if (c->fd < 0)
		return;
	oxa_log(OX_LOG_INFO, "disconnected from oxprofd: %s", why);
	oxa_fd_close(c->fd, &c->fd_id); /* the host may have taken the number */
	c->fd = -1;
	c->welcomed = 0;
	c->unacked = 0;
	oxp_buf_reset(&c->out);
	c->out_off = 0;
	/* The log stays: the next WELCOME says which of its batches the
	 * daemon still has, and the rest go out again. */
	schedule_retry(c);
}

/* The daemon must be root, us, or the user named in OXPROF_DAEMON_USER:
 * the rule oxprofctl and oxprofd apply too (proto/path.c). */
static int trusted(struct oxa_agent *a, int fd, char *why, size_t len)
{
	struct oxp_trust t = { getuid(), a->cfg.trusted_uid };
	return oxp_peer_trusted(&t, fd, a->cfg.socket, why, len) == 0;
}

static int queue_msg(struct oxa_agent *a, const struct oxp_msg *m)
{
	return oxp_encode(&a->conn.out, m);
}

static int send_hello(struct oxa_agent *a)
{
	char exe[1024] = "", cmd[1024] = "";
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = 0;
	struct oxa_fdid id;
	int fd = oxa_fd_open("/proc/self/cmdline", O_RDONLY, 0, &id);
	if (fd >= 0) {
		n = read(fd, cmd, sizeof(cmd) - 1);
		oxa_fd_close(fd, &id);
		for (ssize_t i = 0; i < n - 1; i++)
			if (!cmd[i])
				cmd[i] = ' ';
		cmd[n > 0 ? n : 0] = 0;
	}
	struct oxa_conn *c = &a->conn;
	/* Chosen once per start (oxa_conn_init runs again in a fork child),
	 * so the daemon tells this agent's batches from a reused pid's. */
	while (!c->instance && getrandom(&c->instance, sizeof(c->instance), GRND_NONBLOCK) < 0)
		c->instance = ((uint64_t)rand() << 32 ^ (uint64_t)rand() << 8 ^ ox_mono_ms()) |
			      1;
	struct oxp_msg m = { .type = OXP_MSG_HELLO };
	m.u.hello = (struct oxp_hello){ OXP_ROLE_AGENT, (int32_t)getpid(), oxp_str_c(exe),
					oxp_str_c(cmd), oxp_str_c("liboxprof " OXPROF_VERSION),
					c->instance, (int32_t)getppid() };
	return queue_msg(a, &m);
}

/* oxp_connect, with the socket moved into the agent's fd range before
 * the connect (fds.h): a daemonizing host closes every fd at the moment
 * we connect, and a low number held across the connect could be its. */
static int connect_owned(const char *path, struct oxa_fdid *id, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if ((s = oxa_fd_own(s, id)) < 0)
		return s;
	while (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		oxa_fd_close(s, id);
		struct stat st;
		/* connect() says "refused" for a file that is no socket at all. */
		if (e == ECONNREFUSED && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			return -ENOTSOCK;
		return (e == ENOENT || e == ECONNREFUSED) ? -OXP_ENODAEMON : -e;
	}
	*out = s;
	return 0;
}

int oxa_conn_maybe_connect(struct oxa_agent *a)
{
	struct oxa_conn *c = &a->conn;
	if (c->fd >= 0 || !a->cfg.socket[0] || ox_mono_ms() < c->next_try_ms)
		return 0;
	if (!c->dec && (oxp_decoder_new(&c->dec) < 0 || oxp_reader_init(&c->rd, 0) < 0))
		return -ENOMEM;
	int fd = -1, r = connect_owned(a->cfg.socket, &c->fd_id, &fd);
	char why[256];
	struct stat st;
	if (r == 0 && !trusted(a, fd, why, sizeof(why))) {
		oxa_fd_close(fd, &c->fd_id);
		r = -OXP_EUNTRUSTED;
	} else if (r == -ENOTSOCK && stat(a->cfg.socket, &st) == 0) {
		snprintf(why, sizeof(why), "%s is %s, not a socket; remove it, or set OXPROF_SOCKET",
			 a->cfg.socket, oxp_mode_kind(st.st_mode));
	} else if (r < 0) {
		snprintf(why, sizeof(why), "%s: %s", a->cfg.socket, oxp_strerror(r));
	}
	if (r < 0) {
		if (!c->unreachable_logged++)
			oxa_log(r == -OXP_EUNTRUSTED || r == -ENOTSOCK ? OX_LOG_WARN : OX_LOG_INFO,
				"no daemon yet (%s); sampling state is kept and retried with backoff", why);
		schedule_retry(c);
		return r;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	oxp_reader_destroy(&c->rd);
	oxp_reader_init(&c->rd, 0);
	c->fd = fd;
	c->gen++;
	c->unreachable_logged = 0;
	oxp_buf_reset(&c->out);
	c->out_off = 0;
	return send_hello(a);
}

void oxa_conn_write(struct oxa_agent *a)
{
	struct oxa_conn *c = &a->conn;
	while (c->fd >= 0 && c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				oxa_conn_close(a, strerror(errno));
			return;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out.len) {
		oxp_buf_reset(&c->out);
		c->out_off = 0;
	}
}

int oxa_conn_send_state(struct oxa_agent *a)
{
	char src[128];
	struct oxp_msg m = { .type = OXP_MSG_AGENT_STATE };
	oxa_state_fill(a, &m.u.agent_state, src, sizeof(src));
	return queue_msg(a, &m);
}

/* The daemon's wish: take it, and say so with the counters. */
static void adopt(struct oxa_agent *a, const struct oxp_fleet *f, uint64_t seq, int explicit_cmd)
{
	oxa_state_adopt(a, f, seq, explicit_cmd);
	oxa_conn_send_state(a);
}

static void on_ack(struct oxa_agent *a, const struct oxp_samples_ack *k)
{
	struct oxa_conn *c = &a->conn;
	if (c->unacked)
		c->unacked--;
	oxa_held_ack(a, k);
}

/* Handle one message; negative closes the connection. */
static int handle(struct oxa_agent *a, const struct oxp_msg *m)
{
	switch (m->type) {
	case OXP_MSG_WELCOME:
		a->conn.welcomed = 1;
		a->conn.backoff_ms = 0;
		oxa_log(OX_LOG_INFO, "joined %.*s at %s", (int)m->u.welcome.software.len,
			m->u.welcome.software.ptr, a->cfg.socket);
		/* The daemon's --flush-ms, unless OXPROF_FLUSH_MS chose. */
		if (!a->cfg.flush_ms_env && m->u.welcome.flush_ms >= OXP_MIN_FLUSH_MS &&
		    m->u.welcome.flush_ms <= OXP_MAX_FLUSH_MS &&
		    m->u.welcome.flush_ms != a->cfg.flush_ms) {
			a->cfg.flush_ms = m->u.welcome.flush_ms;
			oxa_log(OX_LOG_INFO, "sending batches every %u ms (the daemon's --flush-ms)",
				a->cfg.flush_ms);
		}
		oxa_held_welcome(a, m->u.welcome.durable, m->u.welcome.received);
		adopt(a, &m->u.welcome.fleet, m->u.welcome.seq, 0);
		return 0;
	case OXP_MSG_SET_STATE:
		if (m->u.set_state.reset) {
			a->dropped_reset += oxa_stacks_discard_pending(&a->pending);
			a->pend_first_ms = a->pend_last_ms = 0;
			oxa_held_compact(a);
		}
		adopt(a, &m->u.set_state.fleet, m->u.set_state.seq, 1);
		return 0;
	case OXP_MSG_SAMPLES_ACK:
		on_ack(a, &m->u.samples_ack);
		return 0;
	case OXP_MSG_DURABLE:
		oxa_held_durable(a, m->u.durable.seq);
		return 0;
	case OXP_MSG_BYE:
		return -ECONNRESET;
	case OXP_MSG_ERROR:
		oxa_log(OX_LOG_WARN, "oxprofd refused this agent: %.*s",
			(int)m->u.error.message.len, m->u.error.message.ptr);
		return -EPROTO;
	default:
		return -OXP_ESHAPE;
	}
}

/* Read what is there and handle every whole message; on any error the
 * connection is closed.  Returns nothing: the caller checks conn.fd. */
void oxa_conn_read(struct oxa_agent *a)
{
	struct oxa_conn *c = &a->conn;
	const char *why = NULL;
	while (!why) {
		const uint8_t *f;
		size_t len;
		struct oxp_msg m;
		int r = oxp_reader_next(&c->rd, &f, &len);
		if (r == 1) {
			r = oxp_decoder_decode(c->dec, f, len, &m, NULL);
			if (r == 0)
				r = handle(a, &m);
			if (r < 0)
				why = oxp_strerror(r);
			continue;
		}
		uint8_t *p;
		size_t room;
		if (r < 0 || (r = oxp_reader_space(&c->rd, &p, &room)) < 0) {
			why = oxp_strerror(r);
			break;
		}
		ssize_t n = recv(c->fd, p, room, MSG_DONTWAIT);
		if (n == 0)
			why = "the daemon closed the connection";
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			why = strerror(errno);
		else if (n < 0)
			return;
		else if ((r = oxp_reader_commit(&c->rd, (size_t)n)) < 0)
			why = oxp_strerror(r);
	}
	oxa_conn_close(a, why);
}
