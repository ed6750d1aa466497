/* sock.c - blocking helpers for the client, the agent and the tests. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ox/clock.h"
#include "oxp/oxp.h"

int oxp_connect(const char *path, int *fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	while (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(s);
		struct stat st;
		/* connect() says "refused" for a file that is no socket at all. */
		if (e == ECONNREFUSED && stat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
			return -ENOTSOCK;
		return (e == ENOENT || e == ECONNREFUSED) ? -OXP_ENODAEMON : -e;
	}
	*fd = s;
	return 0;
}

/* Wait for events on fd until deadline (-1: none).  1 ready, or an error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int t = -1;
		if (deadline >= 0) {
			int64_t left = deadline - (int64_t)ox_mono_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			t = (int)left;
		}
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, t);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int oxp_send_all(int fd, const void *data, size_t len, int timeout_ms)
{
	const uint8_t *p = data;
	int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)ox_mono_ms() + timeout_ms;
	while (len > 0) {
		int r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int oxp_recv_msg(int fd, struct oxp_reader *r, struct oxp_decoder *d,
		 struct oxp_msg *m, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : (int64_t)ox_mono_ms() + timeout_ms;
	for (;;) {
		const uint8_t *f;
		size_t flen;
		int e = oxp_reader_next(r, &f, &flen);
		if (e < 0)
			return e;
		if (e == 1)
			return oxp_decoder_decode(d, f, flen, m, NULL);
		uint8_t *p;
		size_t room;
		if ((e = oxp_reader_space(r, &p, &room)) < 0)
			return e;
		if ((e = wait_fd(fd, POLLIN, deadline)) < 0)
			return e;
		ssize_t n = recv(fd, p, room, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if ((e = oxp_reader_commit(r, (size_t)n)) < 0)
			return e;
	}
}
