/*
 * daemon-ctl.h - start a real oxprofd for a test and talk to it as a
 * control client, with the proto library only.
 */
#ifndef OXT_DAEMON_CTL_H
#define OXT_DAEMON_CTL_H

#include <sys/types.h>

#include "oxp/oxp.h"

/* Start OXPROFD_PATH --socket sock [extra...] (NULL-terminated) and wait
 * until it answers.  Returns its pid. */
pid_t oxt_daemon_start(const char *sock, const char *const *extra);
/* SIGTERM (or sig), wait; returns the wait status. */
int oxt_daemon_stop(pid_t pid, int sig);

/* A control connection: handshake done.  Returns the fd. */
int oxt_ctl_open(const char *sock);
/* Send cmd (selector pid 0 = none) and collect the data messages; returns
 * REPLY's code.  *affected if not NULL. */
int oxt_ctl_cmd(const char *sock, uint8_t cmd, int32_t pid, uint32_t *affected);

/* The status row of pid, copied (exe/source emptied).  0, or -ENOENT. */
int oxt_agent_row(const char *sock, int32_t pid, struct oxp_agent_row *row);
/* Poll oxt_agent_row until pred(row) holds or timeout_ms passes. */
int oxt_wait_row(const char *sock, int32_t pid, int (*pred)(const struct oxp_agent_row *),
		 int timeout_ms, struct oxp_agent_row *row);

/* Query by function; the self count of name and the total. */
int oxt_query_self(const char *sock, int32_t pid, const char *name, uint64_t *self,
		   uint64_t *total);

/* Folded stacks of pid: how many rows, and how many repeat a name that an
 * earlier row had (a folded stack must be one row). */
int oxt_query_folded(const char *sock, int32_t pid, uint32_t *rows, uint32_t *dups,
		     uint64_t *sum);

#endif
