/* procinfo.c - /proc/PID reading; see procinfo.h. */
#include "procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ox/io.h"

/* Read up to n - 1 bytes of a small /proc file; returns the length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	ssize_t got = ox_read_full(fd, buf, n - 1);
	close(fd);
	if (got >= 0)
		buf[got] = 0;
	return got;
}

uint64_t oxd_procinfo_start_wall_ms(uint64_t start)
{
	struct timespec boot, wall;
	long hz = sysconf(_SC_CLK_TCK);
	if (!start || hz <= 0 || clock_gettime(CLOCK_BOOTTIME, &boot) < 0 ||
	    clock_gettime(CLOCK_REALTIME, &wall) < 0)
		return 0;
	/* /proc's start time counts boot time (suspend included). */
	uint64_t up_ms = (uint64_t)boot.tv_sec * 1000 + (uint64_t)boot.tv_nsec / 1000000;
	uint64_t now_ms = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
	uint64_t start_ms = start * 1000 / (uint64_t)hz;
	if (start_ms > up_ms || up_ms - start_ms > now_ms)
		return 0;
	return now_ms - (up_ms - start_ms);
}

int oxd_procinfo_start(pid_t pid, uint64_t *start)
{
	return oxd_procinfo_stat(pid, start, NULL);
}

int oxd_procinfo_stat(pid_t pid, uint64_t *start, int32_t *ppid)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	ssize_t n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	/* comm may hold spaces and parentheses: fields start after the last ')'. */
	char *p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	p++;
	if (ppid) {
		long pp = 0;
		if (sscanf(p, " %*c %ld", &pp) != 1 || pp < 0 || pp > INT32_MAX)
			return -EINVAL;
		*ppid = (int32_t)pp;
	}
	for (int field = 2; field < 21; field++) { /* skip to the space before field 22 */
		p = strchr(p + 1, ' ');
		if (!p)
			return -EINVAL;
	}
	char *end;
	errno = 0;
	unsigned long long v = strtoull(p + 1, &end, 10);
	if (errno || end == p + 1)
		return -EINVAL;
	*start = v;
	return 0;
}

/* The effective uid in /proc/PID/status. */
static int euid_of(pid_t pid, uid_t *uid)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	ssize_t n = read_small(path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	char *l = strstr(buf, "\nUid:");
	unsigned long real, eff;
	if (!l || sscanf(l + 5, "%lu %lu", &real, &eff) != 2)
		return -EINVAL;
	*uid = (uid_t)eff;
	return 0;
}

int oxd_procinfo_read(pid_t pid, uid_t uid, uint64_t start, struct oxd_procinfo *pi)
{
	char path[64];
	uint64_t s0, s1;
	uid_t euid;
	int r = oxd_procinfo_stat(pid, &s0, &pi->ppid);
	if (r < 0)
		return r;
	if (start && s0 != start)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(path, pi->exe, sizeof(pi->exe) - 1);
	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	pi->exe[n] = 0;
	pi->exe_len = (size_t)n;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = read_small(path, pi->cmdline, sizeof(pi->cmdline));
	if (n < 0)
		return (int)n;
	while (n > 0 && pi->cmdline[n - 1] == 0)
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (pi->cmdline[i] == 0)
			pi->cmdline[i] = ' ';
	pi->cmdline[n] = 0;
	pi->cmdline_len = (size_t)n;
	if ((r = euid_of(pid, &euid)) < 0)
		return r;
	if (euid != uid)
		return -ESRCH; /* not the process that connected */
	/* Still the same process after all the reads. */
	if ((r = oxd_procinfo_start(pid, &s1)) < 0)
		return r;
	if (s1 != s0)
		return -ESRCH;
	pi->start = s0;
	return 0;
}
