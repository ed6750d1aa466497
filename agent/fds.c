/* fds.c - see fds.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdatomic.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"

/* The floor: 1024 when the limit leaves room above it (hosts close 0..1023
 * most often, and select() users never see fds past FD_SETSIZE), else half
 * the limit - far above the lowest numbers the kernel hands a host. */
static int fd_floor(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 1024;
	if (rl.rlim_cur > 2048)
		return 1024;
	return (int)(rl.rlim_cur / 2);
}

int oxa_fd_raise(int fd)
{
	if (fd < 0)
		return fd;
	int floor = fd_floor();
	if (fd >= floor)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, floor);
	if (nfd < 0)
		return fd; /* the range is full: keep it, still checked */
	close(fd);
	return nfd;
}

static int identify(int fd, struct oxa_fdid *id)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	return 0;
}

int oxa_fd_own(int fd, struct oxa_fdid *id)
{
	if (fd < 0)
		return -EBADF;
	fd = oxa_fd_raise(fd);
	int r = identify(fd, id);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int oxa_fd_ours(int fd, const struct oxa_fdid *id)
{
	struct stat st;
	return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == id->dev && st.st_ino == id->ino;
}

void oxa_fd_close(int fd, const struct oxa_fdid *id)
{
	if (oxa_fd_ours(fd, id))
		close(fd);
}

int oxa_fd_pipe(int fds[2], struct oxa_fdid id[2])
{
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	int r = oxa_fd_own(p[0], &id[0]);
	if (r < 0) {
		close(p[1]);
		return r;
	}
	fds[0] = r;
	if ((r = oxa_fd_own(p[1], &id[1])) < 0) {
		close(fds[0]);
		return r;
	}
	fds[1] = r;
	return 0;
}

unsigned long long oxa_fd_perf_id(int fd)
{
	struct stat st;
	/* Only an anonymous inode (no file type bits) can be a perf event:
	 * never send a perf ioctl to a host's file or device. */
	if (fd < 0 || fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != 0)
		return 0;
	unsigned long long id = 0;
	return ioctl(fd, PERF_EVENT_IOC_ID, &id) == 0 ? id : 0;
}
