/*
 * ctl.h - a control connection to oxprofd: connect, handshake, and one
 * command at a time (COMMAND, then data messages, then REPLY).
 *
 * Every function that fails returns a negative code (-errno or -OXP_E*) and
 * leaves a one-line message for a person in c->err; the caller decides
 * whether and how to print it (oxc_ctl_fail).
 */
#ifndef OXC_CTL_H
#define OXC_CTL_H

#include "oxp/oxp.h"

/* How long the daemon may take to answer HELLO, and then each message. */
#define OXC_HANDSHAKE_MS 5000
#define OXC_REPLY_MS 30000

struct oxc_ctl {
	int fd;                 /* -1 when closed */
	char path[256];         /* the socket tried */
	char software[128];     /* from WELCOME, e.g. "oxprofd 0.1.0" */
	struct oxp_fleet fleet; /* from WELCOME */
	struct oxp_reader rd;
	struct oxp_decoder *dec;
	struct oxp_buf out;
	int32_t reply_code;     /* of the last REPLY */
	uint32_t affected;      /* of the last REPLY */
	char reply_msg[512];    /* of the last REPLY, copied */
	char err[1024];         /* why the last call failed */
};

/*
 * Resolve the socket path by the shared rule: explicit (--socket) if not
 * NULL, else $OXPROF_SOCKET, else the system/runtime/tmp fallbacks.
 * 0 or -ENAMETOOLONG (message in err if err is not NULL).
 */
int oxc_ctl_path(char *buf, size_t len, const char *explicit_path);

/*
 * Connect to path, send HELLO (role control) and wait for WELCOME.  On
 * failure c is closed and c->err says why in a way a person can act on.
 * 0, -OXP_ENODAEMON, -EPERM (refused by the daemon), -OXP_EVERSION,
 * -ETIMEDOUT, -ECONNRESET, or another -errno.
 */
int oxc_ctl_open(struct oxc_ctl *c, const char *path, int timeout_ms);
void oxc_ctl_close(struct oxc_ctl *c);

/*
 * Called for every message between COMMAND and REPLY (STATUS, QUERY_HEAD,
 * QUERY_ROWS).  m borrows memory until the call returns: copy what you keep.
 * Return 0 to go on, or a negative code to stop (the connection is then
 * unusable; c->err should be set by the callback).
 */
typedef int (*oxc_ctl_fn)(void *arg, const struct oxp_msg *m);

/*
 * Send cmd and read up to and including its REPLY.  0 when the REPLY's code
 * is 0 (c->affected and c->reply_msg are set); the REPLY's non-zero code
 * (e.g. -OXP_ENOMATCH, -EPERM); or a transport error.  c->err describes
 * any failure.
 */
int oxc_ctl_command(struct oxc_ctl *c, const struct oxp_command *cmd, oxc_ctl_fn fn, void *arg);

/* A command with only a command code and selector filled in from opts. */
struct oxc_opts;
void oxc_ctl_command_init(struct oxp_command *cmd, uint8_t code, const struct oxc_opts *o);

/* Print c->err (see oxc_fail) and return the exit code 1. */
int oxc_ctl_fail(const struct oxc_ctl *c, int json, int code);

/*
 * Resolve the socket from opts and open c (c->path is the path tried).
 * 0 when connected; otherwise the error is printed and the exit code to
 * return (1) comes back.
 */
int oxc_ctl_connect(struct oxc_ctl *c, const struct oxc_opts *o);

const char *oxc_cmd_name(uint8_t cmd);

#endif
