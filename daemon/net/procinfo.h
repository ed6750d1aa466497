/*
 * procinfo.h - what the kernel says about a peer process: its executable,
 * command line and start time from /proc/PID, for the pid SO_PEERCRED gave.
 *
 * A HELLO's exe and cmdline are the peer's word; these are the kernel's.
 * The start time (field 22 of /proc/PID/stat, clock ticks since boot) tells
 * a reused pid apart: it is read at accept and again after the other
 * files, so what was read belongs to the process that connected.
 */
#ifndef OXD_PROCINFO_H
#define OXD_PROCINFO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OXD_EXE_MAX 4096      /* bytes of an exe path kept */
#define OXD_CMDLINE_MAX 4096  /* bytes of a command line kept */

struct oxd_procinfo {
	uint64_t start;       /* ticks since boot */
	int32_t ppid;         /* its parent now (field 4 of /proc/PID/stat) */
	char exe[OXD_EXE_MAX + 1];
	char cmdline[OXD_CMDLINE_MAX + 1]; /* arguments joined by spaces */
	size_t exe_len, cmdline_len;
};

/* The start time of pid.  0 or -errno (-ESRCH: pid 0, or no such process). */
int oxd_procinfo_start(pid_t pid, uint64_t *start);
/* The same, and its parent's pid (ppid may be NULL). */
int oxd_procinfo_stat(pid_t pid, uint64_t *start, int32_t *ppid);

/* Unix ms at which a process that started `start` ticks after boot did,
 * by this machine's clocks now; 0 when start is 0 or the clocks fail. */
uint64_t oxd_procinfo_start_wall_ms(uint64_t start);

/*
 * Read exe and cmdline of pid, and check that pid is still the process
 * that started at start (if start is not 0) and runs as effective uid.
 * 0, or -errno: -ESRCH the process is gone or is another one now,
 * -EACCES /proc does not tell us (another user's process when oxprofd is
 * not root, hidepid).  On failure nothing in pi is to be trusted.
 */
int oxd_procinfo_read(pid_t pid, uid_t uid, uint64_t start, struct oxd_procinfo *pi);

#endif
