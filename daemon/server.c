/*
 * server.c - listening socket, connection list, snapshots, graceful stop.
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
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "snapshot.h"

#define SD_LISTEN_FDS_START 3
#define BACKLOG 1024

uint64_t oxd_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void oxd_server_add(struct oxd_server *s, struct oxd_conn *c)
{
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
}

void oxd_server_remove(struct oxd_server *s, struct oxd_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (s->conns == c)
		s->conns = c->next;
	else
		return; /* not in the list */
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->nconns--;
}

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
static int take_listen_fd(struct oxd_server *s)
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

static int mkdir_p(char *dir, mode_t mode)
{
	struct stat st;
	if (stat(dir, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		int r = mkdir_p(dir, 0755);
		*slash = '/';
		if (r < 0)
			return r;
	}
	if (mkdir(dir, mode) < 0)
		return errno == EEXIST ? 0 : -errno;
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
		oxd_err("%s exists and is not a socket; not touching it", path);
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

static int bind_socket(struct oxd_server *s)
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
		/* The per-user fallbacks are private; elsewhere agents of every
		 * user must get in (access is per peer uid). */
		if ((r = mkdir_p(dir, oxp_socket_path_private(s->path, getenv) ? 0700 : 0755)) < 0) {
			oxd_err("cannot create %s: %s", dir, strerror(-r));
			return r;
		}
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

static void on_connection(uv_stream_t *l, int status)
{
	struct oxd_server *s = l->data;
	if (status < 0) {
		oxd_warn("accept: %s", uv_strerror(status));
		return;
	}
	if (!s->stopping)
		oxd_conn_accept(s);
}

static void on_snapshot_timer(uv_timer_t *t)
{
	oxd_server_snapshot(t->data, 0);
}

/*
 * Agents keep every batch until a snapshot holds it (PROTOCOL.md,
 * DURABLE), so a snapshot follows new batches soon: after DURABLE_WAIT_MS,
 * to gather the batches of many agents into one write, and no sooner than
 * DURABLE_GAP_MS, or WRITE_SHARE times the last write's duration, after the
 * previous one, so snapshots take at most 1/WRITE_SHARE of the loop however
 * large the aggregate.  Never later than --snapshot-interval.
 */
#define DURABLE_WAIT_MS 50
#define DURABLE_GAP_MS 1000
#define WRITE_SHARE 20

void oxd_server_batch(struct oxd_server *s)
{
	s->batches++;
	if (!s->cfg->state_dir[0] || s->stopping || uv_is_active((uv_handle_t *)&s->durable_timer))
		return;
	double gap = s->snap_write_ms * WRITE_SHARE;
	if (gap < DURABLE_GAP_MS)
		gap = DURABLE_GAP_MS;
	if (gap > s->cfg->snapshot_ms)
		gap = s->cfg->snapshot_ms;
	uint64_t now = uv_now(s->loop), at = s->snap_done_ms + (uint64_t)gap;
	uint64_t wait = at > now + DURABLE_WAIT_MS ? at - now : DURABLE_WAIT_MS;
	uv_timer_start(&s->durable_timer, on_snapshot_timer, wait, 0);
}

int oxd_server_listen(struct oxd_server *s)
{
	uv_pipe_init(s->loop, &s->listener, 0);
	s->listener.data = s;
	s->listening = 1;
	int r = take_listen_fd(s);
	if (r == 0)
		r = bind_socket(s);
	if (r >= 0 && (r = uv_listen((uv_stream_t *)&s->listener, BACKLOG, on_connection)) < 0)
		oxd_err("listen %s: %s", s->path, uv_strerror(r));
	if (r < 0)
		return r;
	oxd_notice("oxprofd %s serving %s%s; fleet %s, %s, %u Hz, depth %u", OXPROF_VERSION,
		   s->path, s->socket_activated ? " (from systemd)" : "",
		   s->fleet.state.running ? "running" : "paused",
		   s->fleet.state.mode == OXP_MODE_WALL ? "wall" : "cpu", s->fleet.state.hz,
		   s->fleet.state.depth);
	if (s->cfg->state_dir[0])
		uv_timer_start(&s->snapshot_timer, on_snapshot_timer, s->cfg->snapshot_ms,
			       s->cfg->snapshot_ms);
	notify("READY=1");
	return 0;
}

/* ---- state ---- */

int oxd_server_init(struct oxd_server *s, uv_loop_t *loop, const struct oxd_config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->cfg = cfg;
	s->start_ms = oxd_now_ms();
	oxd_agg_init(&s->agg, cfg->mem_budget, cfg->agent_mem_budget);
	oxd_fleet_init(&s->fleet, cfg);
	uv_timer_init(loop, &s->snapshot_timer);
	s->snapshot_timer.data = s;
	uv_timer_init(loop, &s->durable_timer);
	s->durable_timer.data = s;
	if (cfg->state_dir[0] && oxd_snapshot_load(&s->agg, cfg->state_dir))
		s->snap_mark = s->agg.samples + s->agg.dropped + s->agg.generation + s->agg.nprocs;
	s->agg.bud.uid_limit = cfg->uid_mem_budget; /* after the load, which replaces agg */
	return 0;
}

void oxd_server_snapshot(struct oxd_server *s, int force)
{
	if (!s->cfg->state_dir[0])
		return;
	/* Anything new since the last one?  Counters only grow between resets,
	 * and a reset bumps the generation. */
	uint64_t mark = s->agg.samples + s->agg.dropped + s->agg.generation + s->agg.nprocs +
			s->batches;
	if (mark == s->snap_mark && !force)
		return;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t bytes = 0;
	int r = oxd_snapshot_write(&s->agg, s->cfg->state_dir, &bytes);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	s->snap_write_ms = ms;
	uv_update_time(s->loop);
	s->snap_done_ms = uv_now(s->loop);
	uv_timer_stop(&s->durable_timer);
	if (r < 0) {
		/* Agents keep holding their batches (and, once their buffers are
		 * full, drop and count new stacks) until a write works again. */
		oxd_err("snapshot to %s failed: %s", s->cfg->state_dir, strerror(-r));
		return;
	}
	s->snap_mark = mark;
	/* Everything aggregated is in the file now: tell the agents. */
	for (size_t i = 0; i < s->agg.nprocs; i++)
		s->agg.procs[i].seq_durable = s->agg.procs[i].seq_received;
	for (struct oxd_conn *c = s->conns, *next; c; c = next) {
		next = c->next; /* telling c may close it, which unlinks it */
		oxd_conn_durable(c);
	}
	oxd_log(force ? OXD_LOG_INFO : OXD_LOG_DEBUG,
		"snapshot written: %llu bytes, %llu samples, %zu stacks, %.1f ms",
		(unsigned long long)bytes, (unsigned long long)s->agg.samples, s->agg.nstacks, ms);
}

void oxd_server_stop(struct oxd_server *s, const char *why)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	notify("STOPPING=1");
	oxd_notice("stopping (%s): telling %u connections", why, s->nconns);
	if (s->listening) {
		uv_close((uv_handle_t *)&s->listener, NULL);
		if (!s->socket_activated)
			unlink(s->path);
	}
	while (s->conns)
		oxd_conn_bye(s->conns, "oxprofd is stopping");
	uv_close((uv_handle_t *)&s->snapshot_timer, NULL);
	uv_close((uv_handle_t *)&s->durable_timer, NULL);
	oxd_server_snapshot(s, 1);
}

void oxd_server_destroy(struct oxd_server *s)
{
	oxd_agg_destroy(&s->agg);
}
