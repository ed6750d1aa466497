/* fds.c - see fds.h. */
#include <dlfcn.h>
#include <errno.h>
#include <libunwind.h>
#include <link.h>
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

/* The floor, cached (one syscall less per thread armed); re-read when
 * the host lowered its limit under it. */
static _Atomic int cached_floor;

int oxa_fd_raise(int fd)
{
	if (fd < 0)
		return fd;
	int floor = atomic_load(&cached_floor);
	if (!floor)
		atomic_store(&cached_floor, floor = fd_floor());
	if (fd >= floor)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, floor);
	if (nfd < 0 && errno == EINVAL) {
		atomic_store(&cached_floor, floor = fd_floor());
		nfd = fd < floor ? fcntl(fd, F_DUPFD_CLOEXEC, floor) : -1;
	}
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

int oxa_fd_open(const char *path, int flags, mode_t mode, struct oxa_fdid *id)
{
	int fd = open(path, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : oxa_fd_own(fd, id);
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

/*
 * libunwind's memory validator keeps a pipe of its own (static in the
 * library, re-created from inside our signal handler when a write to it
 * fails).  Left at the lowest free numbers, it reads and writes one byte of
 * the host's file that took those numbers after a close-all, and closes
 * the host's descriptor when it re-creates the pipe.  We cannot renumber
 * its array, but its pipe2 calls come through here: those from libunwind's
 * text are moved into the agent's range like our own descriptors.
 * Async-signal-safe once oxa_fd_init has run (syscalls only).
 */
static int (*real_pipe2)(int[2], int); /* set last, once all is known */
static uintptr_t unw_lo, unw_hi;

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t base = *(uintptr_t *)arg;
	(void)size;
	if (info->dlpi_addr != base)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = base + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (!unw_lo || lo < unw_lo)
			unw_lo = lo;
		if (hi > unw_hi)
			unw_hi = hi;
	}
	return 1;
}

/* Before the sampler starts: its start warms libunwind up, which creates
 * its pipe.  Called by the agent's start and by the first pipe2 (which is
 * never in a signal handler: libunwind makes its first pipe at init). */
void oxa_fd_init(void)
{
	if (__atomic_load_n(&real_pipe2, __ATOMIC_ACQUIRE))
		return;
	int (*f)(int[2], int) = (int (*)(int[2], int))dlsym(RTLD_NEXT, "pipe2");
	Dl_info di;
	if (dladdr((void *)unw_backtrace, &di) && di.dli_fbase) {
		uintptr_t base = 0;
		/* dlpi_addr is the load bias; dli_fbase the mapped start. */
		ElfW(Ehdr) *eh = di.dli_fbase;
		ElfW(Phdr) *ph = (ElfW(Phdr) *)((char *)eh + eh->e_phoff);
		for (int i = 0; i < eh->e_phnum; i++)
			if (ph[i].p_type == PT_LOAD) {
				base = (uintptr_t)di.dli_fbase - ph[i].p_vaddr;
				break;
			}
		dl_iterate_phdr(find_text, &base);
	}
	__atomic_store_n(&real_pipe2, f, __ATOMIC_RELEASE);
}

__attribute__((visibility("default"))) int pipe2(int fds[2], int flags)
{
	oxa_fd_init();
	if (!real_pipe2) {
		errno = ENOSYS;
		return -1;
	}
	int r = real_pipe2(fds, flags);
	uintptr_t ra = (uintptr_t)__builtin_return_address(0);
	if (r == 0 && ra >= unw_lo && ra < unw_hi) {
		int e = errno;
		fds[0] = oxa_fd_raise(fds[0]);
		fds[1] = oxa_fd_raise(fds[1]);
		errno = e;
	}
	return r;
}
