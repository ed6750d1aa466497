/*
 * conn.h - one peer connection's bytes: reading whole frames, writing
 * with back-pressure, memory charged to the peer's uid, timeouts, closing.
 * What the frames mean is the layer above's (peer.c), reached only through
 * the callbacks in struct oxd_net_ops, as libuv reaches its user.
 *
 * Lifetime: a conn owns a uv_pipe_t and a uv_timer_t and is freed only when
 * both close callbacks have run.  Nothing frees it from its own read path:
 * oxd_conn_close() only starts closing, and unlinks it from the list at
 * once; a loop over the list that may close the conn it stands on takes
 * the next one first (closing c never closes another).
 */
#ifndef OXD_CONN_H
#define OXD_CONN_H

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "agg.h"
#include "config.h"
#include "oxp/oxp.h"

#define OXD_STREAM_HIGH (256u << 10) /* stop producing reply rows above this */

struct oxd_conn;
struct oxd_query;

/* How the connections reach the layer above. */
struct oxd_net_ops {
	/* A whole frame arrived (c is open). */
	void (*frame)(struct oxd_conn *c, const uint8_t *f, size_t len);
	/* c->busy: a reply streams; produce what fits.  1 while more is to come. */
	int (*pump)(struct oxd_conn *c);
	/* c started closing: no more input. */
	void (*closing)(struct oxd_conn *c);
	/* c's handles are closed: free what the layer above holds for it. */
	void (*closed)(struct oxd_conn *c);
};

/* The listening socket and every open connection. */
struct oxd_net {
	uv_loop_t *loop;
	const struct oxd_config *cfg;  /* owned by main */
	struct oxd_agg *agg;           /* its budgets hold what peers cost */
	const struct oxd_net_ops *ops;
	void *data;                    /* the layer above's */
	uv_pipe_t listener;
	char path[108];
	int listening;
	int socket_activated;          /* systemd owns the socket file */
	int stopping;
	struct oxd_conn *conns;        /* every open connection, newest first */
	uint32_t nconns;
	uint64_t refused_conns;        /* dropped: bad input, limits, access */
};

enum oxd_role { OXD_ROLE_NEW = 0, OXD_ROLE_AGENT = 1, OXD_ROLE_CONTROL = 2 };

struct oxd_conn {
	uv_pipe_t pipe;          /* pipe.data = this */
	uv_timer_t timer;        /* handshake, idle, and close grace */
	struct oxd_net *net;
	struct oxd_conn *prev, *next; /* the net's list */
	struct oxp_reader rd;    /* rd.buf NULL: nothing held (lazily made) */
	struct oxp_decoder *dec; /* NULL between bursts (lazily made) */
	struct oxp_buf out;      /* encoded, not yet handed to libuv */
	pid_t pid;               /* from SO_PEERCRED */
	uid_t uid;
	gid_t gid;
	int role;
	int closing;             /* no more input; close once flushed */
	int open_handles;
	int busy;                /* control: a reply is still streaming */
	int write_dead;          /* agent: writing failed; read until EOF */
	int creds;               /* pid/uid/gid are the kernel's (SO_PEERCRED) */
	int counted;             /* holds a slot in its uid's account */
	uint64_t rd_refused;     /* bytes the reader's growth was refused */
	int failing;             /* its last words (ERROR) go out whatever they cost */
	int control_ok;          /* the uid may control: reserved slots, no caps */
	uint64_t start_time;     /* of the peer process at accept; 0 unknown */
	/* Bytes charged to the uid's budget: the connection itself, its
	 * reader buffer, and what is queued to it. */
	uint64_t mem_conn, mem_rd, mem_out;
	/* The layer above's: agent */
	uint32_t proc;
	struct oxd_ingest ing;
	struct oxp_fleet want;   /* the state this agent was told */
	uint64_t want_seq;
	uint64_t durable_told;   /* last seq this agent was told is durable */
	/* control */
	struct oxd_query *query;
	char label[96];          /* "agent pid 12 (/usr/bin/x)" for logs */
};

/* A new connection, not yet accepted, in the list. */
struct oxd_conn *oxd_conn_new(struct oxd_net *n);
/* Start reading, with the handshake timeout. */
void oxd_conn_start(struct oxd_conn *c);

/* Queue a message (encoded into c->out); oxd_conn_flush sends. */
void oxd_conn_send(struct oxd_conn *c, const struct oxp_msg *m);
void oxd_conn_reply(struct oxd_conn *c, int code, const char *msg, uint32_t affected);
/* Hand what is queued to libuv; may close c (over budget, not reading). */
void oxd_conn_flush(struct oxd_conn *c);
/* Bytes queued to c and not yet written. */
size_t oxd_conn_queued(const struct oxd_conn *c);

/* Charge n bytes held for c: 0 or -ENOSPC (counted). */
int oxd_conn_charge(struct oxd_conn *c, uint64_t n);
/* Send ERROR and close: for bad input, refused access, limits. */
void oxd_conn_fail(struct oxd_conn *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Over a memory budget: say which, and close. */
void oxd_conn_refuse_mem(struct oxd_conn *c, const char *what, uint64_t n);

/* The role's timeout (handshake, frame, idle) from now, every ms if
 * repeat; ms 0 stops it. */
void oxd_conn_timer(struct oxd_conn *c, uint64_t ms, int repeat);

/* Send BYE (daemon stopping) and close once it is out. */
void oxd_conn_bye(struct oxd_conn *c, const char *reason);

/* Start closing (idempotent). */
void oxd_conn_close(struct oxd_conn *c);

#endif
