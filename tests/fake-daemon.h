/*
 * fake-daemon.h - a scripted fake oxprofd, the fixture of the client tests
 * (the real daemon is in daemon-harness.h).  It serves one connection in a
 * forked child and answers from a script, so a test can produce what the
 * real daemon rarely does (refusal, another protocol version, dying
 * mid-reply, BYE) and check what the client sent.  Start, run the client on
 * f.sock, finish.
 */
#ifndef OXT_FAKE_DAEMON_H
#define OXT_FAKE_DAEMON_H

#include <stdint.h>
#include <sys/types.h>

#include "oxp/oxp.h"

/* The script for the one connection: read with oxt_fake_expect, answer with
 * oxt_fake_send; return 0 when what the peer sent was as expected. */
typedef int (*oxt_fake_fn)(int fd, struct oxp_reader *r, struct oxp_decoder *d);

struct oxt_fake {
	char dir[64];   /* private temp dir */
	char sock[128]; /* dir/s.sock */
	pid_t pid;      /* the child that serves */
};

/* Listen on a socket in a new temp dir; a child serves one connection with
 * fn (then lets the peer read to the end) and exits; it gives up after 20 s. */
void oxt_fake_start(struct oxt_fake *f, oxt_fake_fn fn);
/* Wait for the child and remove the dir.  The script's verdict: 0 when the
 * peer sent what it expected, else nonzero. */
int oxt_fake_finish(struct oxt_fake *f);

/* In a script: send m (the child exits 90 if it cannot be encoded). */
void oxt_fake_send(int fd, const struct oxp_msg *m);
/* In a script: the next message into m; 0 when it is of type, else -1. */
int oxt_fake_expect(int fd, struct oxp_reader *r, struct oxp_decoder *d, struct oxp_msg *m,
		    uint32_t type);
/* In a script: HELLO (role control), a WELCOME, then the COMMAND into m;
 * 0, or -1 when the peer said something else. */
int oxt_fake_handshake(int fd, struct oxp_reader *r, struct oxp_decoder *d, struct oxp_msg *m);
/* In a script: REPLY with code, message and affected. */
void oxt_fake_reply(int fd, int32_t code, const char *msg, uint32_t affected);

#endif
