/* path.c - the one socket-path rule, and the one trust rule, shared by
 * daemon, agent and client. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oxp/oxp.h"

#define SYSTEM_DIR "/run/oxprof"

static int put(char *buf, size_t len, const char *s1, const char *s2)
{
	int n = snprintf(buf, len, "%s%s", s1, s2);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Whether the system directory serves: a client needs it to exist and be
 * searchable; a server must also be able to create the socket in it (or
 * create the directory itself). */
static int system_dir_usable(unsigned flags)
{
	struct stat st;
	if (stat(SYSTEM_DIR, &st) == 0 && S_ISDIR(st.st_mode))
		return access(SYSTEM_DIR, (flags & OXP_PATH_SERVER) ? W_OK | X_OK : X_OK) == 0;
	return (flags & OXP_PATH_SERVER) && access("/run", W_OK | X_OK) == 0;
}

int oxp_socket_path(char *buf, size_t len, const char *explicit_path,
		    unsigned flags, char *(*env)(const char *))
{
	if (explicit_path && *explicit_path)
		return put(buf, len, explicit_path, "");
	const char *e = env("OXPROF_SOCKET");
	if (e && *e)
		return put(buf, len, e, "");
	if (system_dir_usable(flags))
		return put(buf, len, SYSTEM_DIR, "/oxprof.sock");
	e = env("XDG_RUNTIME_DIR");
	if (e && *e == '/')
		return put(buf, len, e, "/oxprof/oxprof.sock");
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "/tmp/oxprof-%u", (unsigned)getuid());
	return put(buf, len, tmp, "/oxprof.sock");
}

const char *oxp_mode_kind(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFSOCK: return "a socket";
	case S_IFREG: return "a regular file";
	case S_IFDIR: return "a directory";
	case S_IFLNK: return "a symbolic link";
	case S_IFIFO: return "a FIFO";
	case S_IFCHR: return "a character device";
	case S_IFBLK: return "a block device";
	default: return "not a socket";
	}
}

/* ---- who may own the socket (PROTOCOL.md, "Socket path" and "Trust") ---- */

int oxp_trust_init(struct oxp_trust *t, uid_t self, char *(*env)(const char *),
		   char *why, size_t len)
{
	t->self = self;
	t->extra = -1;
	const char *v = env("OXPROF_DAEMON_USER");
	if (!v || !*v)
		return 0;
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 10);
	if (!*end && !errno && n <= 0x7fffffffUL && *v >= '0' && *v <= '9') {
		t->extra = (int)n;
		return 0;
	}
	struct passwd pw, *res = NULL;
	char buf[1024];
	if (getpwnam_r(v, &pw, buf, sizeof(buf), &res) == 0 && res) {
		t->extra = (int)pw.pw_uid;
		return 0;
	}
	snprintf(why, len, "OXPROF_DAEMON_USER=%s: no such user", v);
	return -EINVAL;
}

int oxp_uid_trusted(const struct oxp_trust *t, uid_t uid)
{
	return uid == 0 || uid == t->self || (t->extra >= 0 && uid == (uid_t)t->extra);
}

static void who(const struct oxp_trust *t, char *buf, size_t len)
{
	if (t->self == 0)
		snprintf(buf, len, "root");
	else
		snprintf(buf, len, "you (uid %u) or root", (unsigned)t->self);
	if (t->extra >= 0) {
		size_t n = strlen(buf);
		snprintf(buf + n, len - n, " or OXPROF_DAEMON_USER (uid %d)", t->extra);
	}
}

/*
 * One path component, not followed: a directory must belong to a trusted
 * uid and be writable by nobody else, unless sticky (like /tmp: others may
 * add names there but not remove or replace ours); a symlink must belong
 * to a trusted uid (its target is checked on the resolved path).  Returns
 * 0, 1 when it does not exist, or -OXP_EUNTRUSTED.
 */
static int check_component(const struct oxp_trust *t, const char *p, char *why, size_t len)
{
	struct stat st;
	char w[96];
	if (lstat(p, &st) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 1 : 0;
	if (!oxp_uid_trusted(t, st.st_uid)) {
		who(t, w, sizeof(w));
		snprintf(why, len, "%s is owned by uid %u, not by %s; remove it, or set "
			 "OXPROF_SOCKET to a socket in a directory you trust", p,
			 (unsigned)st.st_uid, w);
		return -OXP_EUNTRUSTED;
	}
	if (S_ISDIR(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
		snprintf(why, len, "%s is writable by %s (mode %04o) and not sticky, so anyone "
			 "there could replace the socket; chmod go-w %s, or set OXPROF_SOCKET to "
			 "a socket in a directory you trust", p,
			 (st.st_mode & S_IWOTH) ? "everyone" : "its group",
			 (unsigned)(st.st_mode & 07777), p);
		return -OXP_EUNTRUSTED;
	}
	return 0;
}

/* Every directory from / down to dir (absolute), the last included. */
static int check_dirs(const struct oxp_trust *t, const char *dir, char *why, size_t len)
{
	char p[PATH_MAX];
	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return -ENAMETOOLONG;
	int r = check_component(t, "/", why, len);
	for (char *s = p + 1; r == 0 && *s; s++) {
		if (*s != '/')
			continue;
		*s = 0;
		if (s[-1] != '/')
			r = check_component(t, p, why, len);
		*s = '/';
	}
	if (r == 0 && p[1])
		r = check_component(t, p, why, len);
	return r;
}

int oxp_socket_trusted(const struct oxp_trust *t, const char *path, char *why, size_t len)
{
	char dir[PATH_MAX], real[PATH_MAX];
	if (path[0] == '/') {
		if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
			return -ENAMETOOLONG;
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if (snprintf(dir, sizeof(dir), "%s/%s", cwd, path) >= (int)sizeof(dir))
			return -ENAMETOOLONG;
	}
	char *slash = strrchr(dir, '/');
	slash[slash == dir] = 0; /* "/x.sock" lives in "/" */
	/* The path as written (its links owned by trusted users), then the
	 * directory it resolves to, so both the links and what they point to
	 * can be changed by trusted users only. */
	int r = check_dirs(t, dir, why, len);
	if (r < 0)
		return r;
	if (r == 1 || !realpath(dir, real))
		return 0; /* nothing there: connect or bind will say so */
	if ((r = check_dirs(t, real, why, len)) < 0)
		return r;
	struct stat st;
	if (lstat(path, &st) < 0)
		return 0;
	char w[96];
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(why, len, "%s is %s, not a socket; remove it, or set OXPROF_SOCKET", path,
			 oxp_mode_kind(st.st_mode));
		return -OXP_EUNTRUSTED;
	}
	if (!oxp_uid_trusted(t, st.st_uid)) {
		who(t, w, sizeof(w));
		snprintf(why, len, "the socket %s is owned by uid %u, not by %s; remove it, or "
			 "set OXPROF_SOCKET to a socket in a directory you trust", path,
			 (unsigned)st.st_uid, w);
		return -OXP_EUNTRUSTED;
	}
	return 0;
}

int oxp_peer_trusted(const struct oxp_trust *t, int fd, const char *path, char *why, size_t len)
{
	struct ucred cr;
	socklen_t sl = sizeof(cr);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &sl) < 0) {
		snprintf(why, len, "cannot read the credentials of the daemon at %s: %s", path,
			 strerror(errno));
		return -OXP_EUNTRUSTED;
	}
	if (oxp_uid_trusted(t, cr.uid))
		return 0;
	char w[96];
	who(t, w, sizeof(w));
	snprintf(why, len, "the daemon at %s runs as uid %u, not as %s; not talking to it "
		 "(if it is yours, set OXPROF_DAEMON_USER=%u; else remove the socket, or set "
		 "OXPROF_SOCKET)", path, (unsigned)cr.uid, w, (unsigned)cr.uid);
	return -OXP_EUNTRUSTED;
}

int oxp_socket_path_private(const char *path, char *(*env)(const char *))
{
	char p[PATH_MAX];
	const char *e = env("XDG_RUNTIME_DIR");
	if (e && *e == '/' && snprintf(p, sizeof(p), "%s/oxprof/oxprof.sock", e) < (int)sizeof(p) &&
	    !strcmp(p, path))
		return 1;
	snprintf(p, sizeof(p), "/tmp/oxprof-%u/oxprof.sock", (unsigned)getuid());
	return !strcmp(p, path);
}
