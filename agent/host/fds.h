/*
 * fds.h - the descriptors the agent owns, inside a host that may close or
 * reuse any descriptor number under it.
 *
 * A classic daemon closes every fd from 0 to 1023 (or to its limit) and
 * opens its own files, which the kernel numbers from the lowest free slot:
 * our old numbers then name the host's files.  So the agent (1) keeps its
 * descriptors high, at or above a floor well away from the numbers a host
 * uses, and (2) before each use checks that a number still names the file
 * it opened (device and inode from fstat), forgetting - never closing - one
 * that does not, and re-creating what it needs.  A check-then-use race with
 * a host thread that closes and reopens in between remains; the floor makes
 * it a matter of a host opening hundreds of files in that instant.
 *
 * Every function is safe from any thread; none is async-signal-safe except
 * oxa_fd_ours (fstat only).
 */
#ifndef OXA_FDS_H
#define OXA_FDS_H

#include <sys/types.h>

/* Resolves what the pipe2 interposer needs; before the sampler starts.
 * Idempotent. */
void oxa_fd_init(void);

/* What file a descriptor was opened on. */
struct oxa_fdid {
	dev_t dev;
	ino_t ino;
};

/* Take fd over: move it to the agent's range (closing the old number) and
 * record its identity in id.  Returns the descriptor to use from now on,
 * or -errno (fd is then closed).  When the range is full, fd stays where
 * it is. */
int oxa_fd_own(int fd, struct oxa_fdid *id);
/* Move fd to the agent's range without recording anything; returns the
 * new number, or fd itself when it cannot be moved.  For descriptors whose
 * identity is checked another way (perf events). */
int oxa_fd_raise(int fd);
/* 1 when fd still names the file id recorded, else 0. */
int oxa_fd_ours(int fd, const struct oxa_fdid *id);
/* Close fd if it is still ours; a number the host has reused is left
 * alone.  Either way the caller forgets fd. */
void oxa_fd_close(int fd, const struct oxa_fdid *id);
/* open(2) straight into the agent's range, identity in id; 0..: the fd,
 * to be closed with oxa_fd_close.  For every file the agent opens, however
 * briefly: a host closing all fds and reopening its own in that instant
 * must not have one of its files closed by us. */
int oxa_fd_open(const char *path, int flags, mode_t mode, struct oxa_fdid *id);
/* A pipe in the agent's range, O_CLOEXEC|O_NONBLOCK, identities in id. */
int oxa_fd_pipe(int fds[2], struct oxa_fdid id[2]);
/* The perf event id of fd (PERF_EVENT_IOC_ID) when fd is a perf event,
 * else 0: perf events share one anonymous inode, so this is their
 * identity. */
unsigned long long oxa_fd_perf_id(int fd);

#endif
