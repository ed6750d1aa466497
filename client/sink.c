/* sink.c - checked output streams and all-or-nothing files; see sink.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sink.h"

/* stdio calls this for every buffer it writes out.  The first error is
 * kept with its errno, and later writes are refused, so a stream that
 * lost a piece never goes on to write what follows it. */
static ssize_t sink_write(void *cookie, const char *buf, size_t n)
{
	struct oxc_sink *s = cookie;
	size_t done = 0;
	if (s->err) {
		errno = -s->err;
		return -1;
	}
	while (done < n) {
		ssize_t w = write(s->fd, buf + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			s->err = w < 0 ? -errno : -EIO;
			errno = -s->err;
			return -1;
		}
		done += (size_t)w;
	}
	return (ssize_t)n;
}

/* A close error (NFS, some FUSE file systems) is a write error too. */
static int sink_closefd(void *cookie)
{
	struct oxc_sink *s = cookie;
	if (s->owns_fd && s->fd >= 0 && close(s->fd) < 0 && !s->err)
		s->err = -errno;
	s->fd = -1;
	return s->err ? -1 : 0;
}

static const cookie_io_functions_t sink_io = { .write = sink_write, .close = sink_closefd };

static int attach(struct oxc_sink *s, int fd, int owns)
{
	s->fd = fd;
	s->owns_fd = owns;
	s->f = fopencookie(s, "w", sink_io);
	return s->f ? 0 : -ENOMEM;
}

/* A name no one else uses: ".BASE.XXXXXX" beside the file. */
static int tmp_name(struct oxc_sink *s)
{
	const char *slash = strrchr(s->final, '/');
	int dirlen = slash ? (int)(slash - s->final + 1) : 0;
	uint64_t rnd;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd))
		rnd = (uint64_t)getpid() * 2654435761u ^ (uint64_t)time(NULL) ^ (uintptr_t)s;
	int n = snprintf(s->tmp, sizeof(s->tmp), "%.*s.%s.%06llx", dirlen, s->final,
			 s->final + dirlen, (unsigned long long)(rnd & 0xffffff));
	return n > 0 && (size_t)n < sizeof(s->tmp) ? 0 : -ENAMETOOLONG;
}

/* Create the temporary file: exclusively, never through a symlink. */
static int open_tmp(struct oxc_sink *s, const struct stat *old)
{
	int fd = -1, r = 0;
	for (int tries = 0; tries < 100 && fd < 0; tries++) {
		if ((r = tmp_name(s)) < 0)
			break;
		fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
		r = fd < 0 ? -errno : 0;
		if (r != -EEXIST)
			break;
	}
	if (fd < 0) {
		s->tmp[0] = '\0';
		return r ? r : -EEXIST;
	}
	/* A replaced file keeps its permissions. */
	if ((old && fchmod(fd, old->st_mode & 07777) < 0) || (r = attach(s, fd, 1)) < 0) {
		r = r ? r : -errno;
		close(fd);
		unlink(s->tmp);
		s->tmp[0] = '\0';
		return r;
	}
	return 0;
}

int oxc_sink_open(struct oxc_sink *s, const char *path)
{
	struct stat st;
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	snprintf(s->name, sizeof(s->name), "%s", path);
	if (!*path)
		return -ENOENT;
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		if ((size_t)snprintf(s->final, sizeof(s->final), "%s", path) >= sizeof(s->final))
			return -ENAMETOOLONG;
		return open_tmp(s, NULL);
	}
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode)) {
		/* /dev/stdout, a FIFO, a terminal: nothing to replace. */
		int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		int r = attach(s, fd, 1);
		if (r < 0)
			close(fd);
		return r;
	}
	/* An existing file is replaced where it lives (through a symlink, its
	 * target), and only if we may write it, as fopen "w" would. */
	if (access(path, W_OK) < 0)
		return -errno;
	if (!realpath(path, s->final))
		return -errno;
	return open_tmp(s, &st);
}

int oxc_sink_close(struct oxc_sink *s)
{
	if (s->f) {
		if (fflush(s->f) != 0 && !s->err)
			s->err = -(errno ? errno : EIO);
		if (ferror(s->f) && !s->err)
			s->err = -EIO;
		fclose(s->f); /* closes fd through sink_closefd, which notes errors */
		s->f = NULL;
	}
	if (!s->err && s->tmp[0] && rename(s->tmp, s->final) < 0)
		s->err = -errno;
	if (s->tmp[0] && s->err)
		unlink(s->tmp);
	s->tmp[0] = '\0';
	return s->err;
}

void oxc_sink_discard(struct oxc_sink *s)
{
	if (!s->err)
		s->err = -ECANCELED; /* makes close remove, never rename */
	oxc_sink_close(s);
}

int oxc_sink_fail(const struct oxc_sink *s, int err)
{
	fprintf(stderr, "oxprofctl: cannot write %s: %s\n", s->name, strerror(-err));
	return 1;
}

/* ---- standard output ---- */

static struct oxc_sink out = { .fd = 1, .name = "standard output" };

void oxc_sink_stdout(void)
{
	struct oxc_sink *s = &out;
	if (attach(s, 1, 0) < 0)
		return; /* out of memory: stdio's stdout, checked as well as it can be */
	if (isatty(1))
		setvbuf(s->f, NULL, _IOLBF, 0);
	stdout = s->f;
}

int oxc_sink_stdout_error(void)
{
	if (!out.err && ferror(stdout))
		return -EIO;
	return out.err;
}

int oxc_sink_finish_stdout(int code)
{
	if (fflush(stdout) != 0 && !out.err)
		out.err = -(errno ? errno : EIO);
	if (ferror(stdout) && !out.err)
		out.err = -EIO;
	return out.err ? oxc_sink_fail(&out, out.err) : code;
}
