/*
 * conn.h - one peer connection: framing, decoding, the handshake, agent
 * ingest, control commands, replies with back-pressure, and closing.
 *
 * Lifetime: a conn owns a uv_pipe_t and a uv_timer_t and is freed only when
 * both close callbacks have run.  Nothing frees it from its own read path:
 * oxd_conn_close() only starts closing.
 */
#ifndef OXD_CONN_H
#define OXD_CONN_H

#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "agg.h"
#include "oxp/oxp.h"

struct oxd_server;
struct oxd_query;

enum oxd_role { OXD_ROLE_NEW = 0, OXD_ROLE_AGENT = 1, OXD_ROLE_CONTROL = 2 };

struct oxd_conn {
	uv_pipe_t pipe;          /* pipe.data = this */
	uv_timer_t timer;        /* handshake, idle, and close grace */
	struct oxd_server *srv;
	struct oxd_conn *prev, *next; /* the server's list */
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
	/* agent */
	uint32_t proc;
	struct oxd_ingest ing;
	struct oxp_fleet want;   /* the state this agent was told */
	uint64_t want_seq;
	uint64_t durable_told;   /* last seq this agent was told is durable */
	/* control */
	struct oxd_query *query;
	char label[96];          /* "agent pid 12 (/usr/bin/x)" for logs */
};

/* Accept a pending connection on the server's listener. */
void oxd_conn_accept(struct oxd_server *s);

/* Tell an agent its desired state (SET_STATE) and flush. */
void oxd_conn_set_state(struct oxd_conn *c, const struct oxp_fleet *f, uint64_t seq, int reset);

/* A snapshot was written: tell the agent how far its batches are now
 * durable (DURABLE), if that moved. */
void oxd_conn_durable(struct oxd_conn *c);

/* Send BYE (daemon stopping) and close once it is out. */
void oxd_conn_bye(struct oxd_conn *c, const char *reason);

/* Start closing (idempotent).  An agent's process row is marked exited. */
void oxd_conn_close(struct oxd_conn *c);

#endif
