/*
 * server.c - the listening socket: the shared path rule or a socket passed
 * by systemd (LISTEN_FDS), refusing to start over a live socket, readiness
 * notification, and accepting (or refusing) connections.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "access.h"
#include "log.h"
#include "procinfo.h"
#include "ox/xalloc.h"

#define SD_LISTEN_FDS_START 3
#define BACKLOG 1024
/* What a connection costs beyond its buffers: the struct, libuv's state
 * and the kernel's socket, roughly; charged from accept to close. */
#define CONN_COST (sizeof(struct oxd_conn) + 2048)

/* ---- systemd ---- */

/* sd_notify's datagram protocol, without libsystemd. */
static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	if (path[0] == '@')
		sa.sun_path[0] = 0; /* abstract namespace */
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		oxd_warn("NOTIFY_SOCKET %s: %s", path, strerror(errno));
	close(fd);
}

/* The socket systemd passed, if any: 1 taken, 0 none, -errno. */
static int take_listen_fd(struct oxd_net *s)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	if (!pid || !fds || strtol(pid, NULL, 10) != (long)getpid() || strtol(fds, NULL, 10) < 1)
		return 0;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	fcntl(SD_LISTEN_FDS_START, F_SETFD, FD_CLOEXEC);
	int r = uv_pipe_open(&s->listener, SD_LISTEN_FDS_START);
	if (r < 0)
		return r;
	size_t len = sizeof(s->path) - 1;
	if (uv_pipe_getsockname(&s->listener, s->path, &len) < 0)
		snprintf(s->path, sizeof(s->path), "(fd %d)", SD_LISTEN_FDS_START);
	s->socket_activated = 1;
	return 1;
}

/* ---- our own socket ---- */

/*
 * The socket's directory.  Only a default one (/run/oxprof, the per-user
 * fallbacks) is ours to create, and only its last component: a path given
 * with --socket or OXPROF_SOCKET names a place someone made, and creating
 * its missing parents (as root, say) would hide a typo and leave stray
 * directories behind.
 */
static int socket_dir(const char *dir, int is_default, mode_t mode)
{
	struct stat st;
	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		oxd_err("cannot listen in %s: it is %s, not a directory", dir,
			oxp_mode_kind(st.st_mode));
		return -ENOTDIR;
	}
	if (errno != ENOENT || !is_default) {
		int e = errno;
		if (e == ENOENT)
			oxd_err("cannot listen at a socket in %s: the directory does not exist; "
				"create it, or choose another --socket", dir);
		else
			oxd_err("cannot listen in %s: %s", dir, strerror(e));
		return -e;
	}
	if (mkdir(dir, mode) < 0 && errno != EEXIST) {
		int e = errno;
		oxd_err("cannot create %s: %s", dir, strerror(e));
		return -e;
	}
	/* Ours: its mode is ours to set whatever the umask, through an fd
	 * that did not follow a link someone put in its place. */
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		if (fchmod(fd, mode) < 0)
			oxd_warn("chmod %s: %s", dir, strerror(errno));
		close(fd);
	}
	return 0;
}

/* Refuse a live socket; remove a stale one.  0 or -errno (logged). */
static int clear_path(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		oxd_err("%s is %s, not a socket; not touching it", path, oxp_mode_kind(st.st_mode));
		return -EEXIST;
	}
	int fd, r = oxp_connect(path, &fd);
	if (r == 0) {
		close(fd);
		oxd_err("another oxprofd is already listening at %s; stop it first, or use --socket",
			path);
		return -EADDRINUSE;
	}
	oxd_info("removing stale socket %s", path);
	return unlink(path) < 0 && errno != ENOENT ? -errno : 0;
}

static int bind_socket(struct oxd_net *s)
{
	int r = oxp_socket_path(s->path, sizeof(s->path), s->cfg->socket, OXP_PATH_SERVER, getenv);
	if (r < 0) {
		oxd_err("socket path too long (a Unix socket path has at most %zu bytes)",
			sizeof(s->path) - 1);
		return r;
	}
	char dir[sizeof(s->path)];
	strcpy(dir, s->path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		const char *e = getenv("OXPROF_SOCKET");
		int is_default = !s->cfg->socket[0] && !(e && *e);
		/* The per-user fallbacks are private; elsewhere agents of every
		 * user must get in (access is per peer uid). */
		if ((r = socket_dir(dir, is_default,
				    oxp_socket_path_private(s->path, getenv) ? 0700 : 0755)) < 0)
			return r;
	}
	/* The clients' and agents' rule: a directory another user controls
	 * could have our socket replaced by theirs. */
	struct oxp_trust t;
	char why[512];
	oxp_trust_init(&t, geteuid(), getenv, why, sizeof(why));
	if ((r = oxp_socket_trusted(&t, s->path, why, sizeof(why))) < 0) {
		oxd_err("not listening at %s: %s", s->path, r == -OXP_EUNTRUSTED ? why : strerror(-r));
		return r;
	}
	if ((r = clear_path(s->path)) < 0)
		return r;
	if ((r = uv_pipe_bind(&s->listener, s->path)) < 0) {
		oxd_err("bind %s: %s", s->path, uv_strerror(r));
		return r;
	}
	chmod(s->path, 0666); /* any process may report; access is per peer uid */
	return 0;
}

/* ---- accept ---- */

/* Over --max-connections: accept, say why, close. */
static void on_refused_closed(uv_handle_t *h)
{
	free(h);
}

static void refuse(struct oxd_net *s, uv_pipe_t *p)
{
	char msg[160];
	snprintf(msg, sizeof(msg), "oxprofd holds its maximum of %u connections "
		 "(--max-connections, --control-reserve); try again later",
		 s->cfg->max_conns + s->cfg->control_reserve);
	struct oxp_buf b;
	oxp_buf_init(&b);
	struct oxp_msg m = { .type = OXP_MSG_ERROR };
	m.u.error = (struct oxp_error_msg){ -EBUSY, oxp_str_c(msg) };
	if (oxp_encode(&b, &m) == 0) {
		uv_buf_t ub = uv_buf_init((char *)b.data, (unsigned)b.len);
		uv_try_write((uv_stream_t *)p, &ub, 1);
	}
	oxp_buf_destroy(&b);
	s->refused_conns++;
	if (s->refused_conns == 1 || s->refused_conns % 1000 == 0)
		oxd_warn("%s (refused so far: %llu)", msg, (unsigned long long)s->refused_conns);
	uv_close((uv_handle_t *)p, on_refused_closed);
}

/*
 * Whether this peer may hold one more connection: users allowed to control
 * always may (up to the reserve past --max-connections); anyone else within
 * --max-connections, their uid's --uid-max-connections and memory budget.
 * 0, or fails the connection.
 */
static int admit(struct oxd_conn *c)
{
	struct oxd_net *s = c->net;
	const struct oxd_config *cfg = s->cfg;
	char why[256];
	struct oxd_uacct *u = oxd_budget_uid(&s->agg->bud, c->uid);
	/* The group database is asked only when a cap is in the way: a flood
	 * of connections must not become a flood of NSS lookups. */
	c->control_ok = c->uid == 0 || c->uid == geteuid();
	if (!c->control_ok && (s->nconns > cfg->max_conns || u->conns >= cfg->uid_max_conns))
		c->control_ok = oxd_access_control(cfg, c->uid, c->gid, why, sizeof(why));
	if (!c->control_ok && s->nconns > cfg->max_conns) {
		oxd_conn_fail(c, -EBUSY, "oxprofd holds its maximum of %u connections "
			      "(--max-connections); try again later", cfg->max_conns);
		return -EBUSY;
	}
	if (!c->control_ok && u->conns >= cfg->uid_max_conns) {
		oxd_conn_fail(c, -EBUSY, "uid %u holds its maximum of %u connections "
			      "(--uid-max-connections); try again later", (unsigned)c->uid,
			      cfg->uid_max_conns);
		return -EBUSY;
	}
	if (oxd_conn_charge(c, CONN_COST) < 0) {
		oxd_conn_refuse_mem(c, "a connection", CONN_COST);
		return -ENOSPC;
	}
	c->mem_conn = CONN_COST;
	u->conns++;
	c->counted = 1;
	return 0;
}

static void accept_conn(struct oxd_net *s)
{
	if (s->nconns >= s->cfg->max_conns + s->cfg->control_reserve) {
		uv_pipe_t *p = ox_xmalloc(sizeof(*p));
		uv_pipe_init(s->loop, p, 0);
		if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)p) == 0)
			refuse(s, p);
		else
			uv_close((uv_handle_t *)p, on_refused_closed);
		return;
	}
	struct oxd_conn *c = oxd_conn_new(s);
	uv_os_fd_t fd;
	int r = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->pipe);
	if (r == 0)
		r = uv_fileno((uv_handle_t *)&c->pipe, &fd);
	if (r == 0)
		r = oxd_access_peer(fd, &c->pid, &c->uid, &c->gid);
	if (r < 0) {
		oxd_warn("accept: %s", uv_strerror(r)); /* libuv codes are -errno here */
		return oxd_conn_close(c);
	}
	c->creds = 1;
	snprintf(c->label, sizeof(c->label), "peer pid %d uid %u", (int)c->pid, (unsigned)c->uid);
	if (admit(c) < 0)
		return;
	/* The start time now, so HELLO can tell whether the pid still names
	 * the process that connected. */
	if (oxd_procinfo_start(c->pid, &c->start_time) < 0)
		c->start_time = 0;
	oxd_conn_start(c);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct oxd_net *s = l->data;
	if (status < 0) {
		oxd_warn("accept: %s", uv_strerror(status));
		return;
	}
	if (!s->stopping)
		accept_conn(s);
}

void oxd_net_init(struct oxd_net *n, uv_loop_t *loop, const struct oxd_config *cfg,
		  struct oxd_agg *agg, const struct oxd_net_ops *ops, void *data)
{
	memset(n, 0, sizeof(*n));
	n->loop = loop;
	n->cfg = cfg;
	n->agg = agg;
	n->ops = ops;
	n->data = data;
}

int oxd_net_listen(struct oxd_net *s)
{
	uv_pipe_init(s->loop, &s->listener, 0);
	s->listener.data = s;
	s->listening = 1;
	int r = take_listen_fd(s);
	if (r == 0)
		r = bind_socket(s);
	if (r >= 0 && (r = uv_listen((uv_stream_t *)&s->listener, BACKLOG, on_connection)) < 0)
		oxd_err("listen %s: %s", s->path, uv_strerror(r));
	return r < 0 ? r : 0;
}

void oxd_net_ready(void)
{
	notify("READY=1");
}

void oxd_net_stop(struct oxd_net *s)
{
	s->stopping = 1;
	notify("STOPPING=1");
	if (s->listening) {
		uv_close((uv_handle_t *)&s->listener, NULL);
		if (!s->socket_activated)
			unlink(s->path);
	}
}
