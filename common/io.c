/* io.c - read/write loops; see ox/io.h. */
#include "ox/io.h"

#include <errno.h>
#include <unistd.h>

int ox_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* off < 0: read(2) from the file position; else pread(2) at off. */
static ssize_t fill(int fd, char *buf, size_t n, int64_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t k = off < 0 ? read(fd, buf + got, n - got)
				    : pread(fd, buf + got, n - got, (off_t)(off + (int64_t)got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

ssize_t ox_read_full(int fd, void *buf, size_t n)
{
	return fill(fd, buf, n, -1);
}

ssize_t ox_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	return fill(fd, buf, n, (int64_t)off);
}
