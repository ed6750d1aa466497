/*
 * io.h - the loops around read(2) and write(2) that every part writes: go
 * on after EINTR and short counts.  Only those system calls, no allocation:
 * async-signal-safe, so the agent may use them anywhere.  Blocking
 * descriptors: EAGAIN is an error here.
 */
#ifndef OX_IO_H
#define OX_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Write all n bytes.  0 or -errno (what was written before stays written). */
int ox_write_all(int fd, const void *p, size_t n);
/* Read until n bytes or end of file.  The count read, or -errno. */
ssize_t ox_read_full(int fd, void *buf, size_t n);
/* The same at offset off, with pread(2): the file position is not moved. */
ssize_t ox_pread_full(int fd, void *buf, size_t n, uint64_t off);

#endif
