/*
 * agent.h - the agent's state, shared by api.c (host threads) and the
 * drain thread's files.  Calls between those read one way: drain.c (the
 * loop) -> conn.c, batch.c, output.c -> held.c (the delivery log),
 * state.c (wanted and reported state) -> the sampler (sampler/sampler.h).
 *
 * Threads: fields marked [drain] are touched only by the drain thread (and
 * by api.c only while that thread is not running).  Requests from host
 * threads go through the [api] fields under `lock` and wake the drain
 * thread through `wake_fd`.  The signal handler touches none of this.
 */
#ifndef OXA_AGENT_H
#define OXA_AGENT_H

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "frames.h"
#include "ox/clock.h"
#include "ox/index.h"
#include "host/fds.h"
#include "oxp/oxp.h"
#include "sampler/sampler.h"
#include "stacks.h"
#include "strtab.h"
#include "symbols.h"

/* Per-connection definition tracking: an id is defined on the current
 * connection when its generation equals the connection's. */
struct oxa_gens {
	uint32_t *gen;
	size_t cap;
};

/*
 * The delivery log: every SAMPLES batch sent and not yet durable in the
 * daemon (PROTOCOL.md, DURABLE), oldest first, with the table entries and
 * counts it carried.  Its samples stay counted as inflight in the pending
 * table until the daemon says the batch is in a written snapshot; if the
 * daemon lost it (a crash), they become pending again and are resent.
 */
struct oxa_held_batch {
	uint64_t seq;
	uint64_t first_ms, last_ms; /* when its samples were taken (wall) */
	uint32_t rec_off, nrec;
	uint64_t samples;
	uint64_t accepted, refused; /* from SAMPLES_ACK */
	int acked;
};

struct oxa_held_rec {
	uint32_t ent;            /* index in oxa_agent.pending */
	uint32_t count;
};

struct oxa_held {
	struct oxa_held_batch *b;
	size_t nb, cap_b;
	struct oxa_held_rec *r;
	size_t nr, cap_r, max_r; /* max_r: the budget (OXA_HELD_PER_ENT) */
	size_t peak_nb, peak_nr; /* for the exit log (debug): what durability cost */
	uint64_t peak_samples;
};

struct oxa_conn {
	int fd;                  /* -1 when not connected */
	struct oxa_fdid fd_id;   /* what fd was opened on (fds.h) */
	int welcomed;
	uint32_t gen;            /* connection number, from 1 */
	struct oxp_reader rd;
	struct oxp_decoder *dec;
	struct oxp_buf out;      /* encoded, not yet written */
	size_t out_off;
	uint64_t next_try_ms;
	unsigned backoff_ms;
	int unreachable_logged;
	uint32_t unacked;        /* SAMPLES frames awaiting SAMPLES_ACK */
	uint64_t instance;       /* HELLO: random, new per start and fork */
	struct oxa_held held;    /* kept across connections */
};

struct oxa_tname {
	uint32_t tid;
	uint32_t name;           /* string id */
	uint32_t gen;            /* defined on connection gen */
};

struct oxa_agent {
	struct oxa_config cfg;
	/* [api] requests, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stop;                /* drain thread: flush and finish */
	int dump_fd;             /* drain thread: write folded here, -1 none */
	int dump_result;
	_Atomic int wake_fd[2];  /* a pipe: host threads write [1] */
	struct oxa_fdid wake_id[2];
	pthread_t thread;
	int running;             /* the drain thread exists */
	/* Held by the drain thread while it may change strs, syms and frames
	 * (which symbolising does), and by a forking host thread (api.c's
	 * prepare handler): a fork child then inherits those tables whole and
	 * keeps them, instead of reading every module's symbols again. */
	pthread_mutex_t tables_lock;
	/* Set by a forking host thread: read the symbols of every module now,
	 * once, so that the children (which keep the tables) need not. */
	_Atomic int warm_wanted;
	unsigned long long warm_adds, warm_subs; /* [drain] loader counters warmed */
	/* [drain] */
	struct oxa_stacks pending;  /* unsent and unacknowledged */
	struct oxa_stacks lifetime; /* everything, for stand-alone output */
	int keep_lifetime;
	struct oxa_strtab strs;
	struct oxa_symbols *syms;
	struct oxa_frames frames;
	struct oxa_gens str_gens, frame_gens;
	struct oxa_gens mod_gens; /* module build-ids defined, by path string id */
	struct oxa_tname *tnames; /* the names of threads seen, by first sight */
	size_t ntnames, cap_tnames;
	struct ox_index itnames;  /* over tnames, by tid */
	struct oxa_conn conn;
	struct oxa_fleet_state {
		int running, mode;
		unsigned hz, depth;
	} want;                  /* what the daemon or API asked for */
	uint64_t batch_seq;
	/* Wall ms of the first and last pending sample, as taken from the
	 * ring (0: none): SAMPLES says when samples were taken, also when
	 * they wait out a daemon restart. */
	uint64_t pend_first_ms, pend_last_ms;
	/* Written by the drain thread only; atomic because oxprof_status reads
	 * them from host threads. */
	_Atomic uint64_t ack_seq;       /* last SET_STATE seq applied */
	_Atomic uint64_t sent;          /* samples durable in the daemon */
	_Atomic uint64_t refused;       /* of those, refused by its budget */
	_Atomic uint64_t dropped_full;  /* the pending table was full */
	_Atomic uint64_t dropped_reset; /* discarded by a reset */
	uint64_t reported;       /* hash of the counters last sent */
	struct timespec started_at; /* CLOCK_REALTIME the process started (or forked) */
	struct oxa_sample scratch;
};

extern struct oxa_agent oxa_agent;

/* drain.c */
int oxa_drain_start(struct oxa_agent *a);
/* The drain thread's signal mask: all but the synchronous faults, and
 * always the sampler's signal. */
void oxa_drain_sigmask(sigset_t *mask, int sampler_signo);
/* Ask the drain thread to flush and finish; wait up to timeout_ms. */
void oxa_drain_stop(struct oxa_agent *a, int timeout_ms);
/* Any thread.  A wake is lost (and the drain thread notices within
 * IDLE_CHECK_MS) when the host has closed the pipe under us. */
void oxa_drain_wake(struct oxa_agent *a);
/* A host thread forked: have the symbols of every module read (drain.c,
 * warm_symbols).  Async-signal-safe. */
void oxa_drain_forked(struct oxa_agent *a);

/* state.c: what the agent wants and what it reports */
/* Apply the wanted sampling state to the sampler, within the agent's
 * limits (sampler.h): a clamp is logged once and shows in the source
 * string oxa_state_fill reports.  The sampler's 0 or -errno. */
int oxa_state_apply(struct oxa_agent *a);
/* A SET_STATE or WELCOME from the daemon: take its fleet state (unless
 * OXPROF_START=1 holds and the command was not addressed to us), note seq
 * as acknowledged, apply. */
void oxa_state_adopt(struct oxa_agent *a, const struct oxp_fleet *f, uint64_t seq,
		     int explicit_cmd);
/* Fill the counters part of an AGENT_STATE/SAMPLES message. */
void oxa_state_fill(struct oxa_agent *a, struct oxp_agent_stats *st, char *src, size_t srclen);
/* A digest of what AGENT_STATE would say, to send it only on change. */
uint64_t oxa_state_digest(struct oxa_agent *a);

/* conn.c */
void oxa_conn_init(struct oxa_conn *c);
void oxa_conn_destroy(struct oxa_conn *c);
/* Connect if due; 0 when connected (or not due), negative on failure. */
int oxa_conn_maybe_connect(struct oxa_agent *a);
/* Move pending output to the socket; on error closes the connection. */
void oxa_conn_write(struct oxa_agent *a);
/* Read and handle what the daemon sent; on error closes. */
void oxa_conn_read(struct oxa_agent *a);
void oxa_conn_close(struct oxa_agent *a, const char *why);
/* Queue an AGENT_STATE message. */
int oxa_conn_send_state(struct oxa_agent *a);

/* batch.c */
/* Encode all pending stacks as SAMPLES frames into the connection's output
 * buffer; they become inflight.  0 or -ENOMEM. */
int oxa_batch_queue(struct oxa_agent *a);

/* held.c: the delivery log */
/* Whether the log has room for another flush. */
int oxa_held_room(struct oxa_agent *a);
/* Room for one more batch of n records.  0 or -ENOMEM. */
int oxa_held_reserve(struct oxa_agent *a, size_t n);
/* Log a batch sent (after oxa_held_reserve): its seq and records. */
void oxa_held_push(struct oxa_agent *a, uint64_t seq, uint64_t first_ms, uint64_t last_ms,
		   const struct oxa_held_rec *recs, size_t n);
/* SAMPLES_ACK: batch aggregated (and, through k->durable, durable). */
void oxa_held_ack(struct oxa_agent *a, const struct oxp_samples_ack *k);
/* Every batch through seq is durable: count it as sent and forget it. */
void oxa_held_durable(struct oxa_agent *a, uint64_t seq);
/* A new connection's WELCOME: settle the log with what the daemon has. */
void oxa_held_welcome(struct oxa_agent *a, uint64_t durable, uint64_t received);
/* Giving up (exit): samples acknowledged count as sent, the rest as
 * dropped; the log empties. */
void oxa_held_abandon(struct oxa_agent *a);
/* Widen the pending samples' time span (agent.h, pend_first_ms) to
 * [first_ms, last_ms]; 0 = unknown, ignored. */
void oxa_pending_span(struct oxa_agent *a, uint64_t first_ms, uint64_t last_ms);
/* Compact the pending table, keeping the log's entry indexes right. */
void oxa_held_compact(struct oxa_agent *a);
/* Samples in the log. */
uint64_t oxa_held_samples(const struct oxa_agent *a);

/* batch.c, continued: what the wire knows on this connection */
/* The name string id of a thread (read from /proc at first sight); *out
 * holds until the next call (the array may move). */
int oxa_thread_name(struct oxa_agent *a, uint32_t tid, struct oxa_tname **out);
int oxa_gens_defined(struct oxa_gens *g, uint32_t id, uint32_t gen, int *was);

/* output.c */
/* Write the lifetime table as folded stacks to fd. */
int oxa_output_folded(struct oxa_agent *a, int fd);
/* The same with the folded profile other[0..olen) added in. */
int oxa_output_folded_merge(struct oxa_agent *a, int fd, const char *other, size_t olen);
/* Symbolise stacks new to the lifetime table. */
int oxa_output_resolve(struct oxa_agent *a);
/*
 * Write the profile to path (already expanded) through a temp file with an
 * unpredictable name in the same directory (O_EXCL|O_NOFOLLOW), renamed
 * over path.  A profile already at path that was written since this
 * process started (another process of the same run) is added to, not
 * replaced; with nothing sampled, such a file is left as it is.  0 or
 * -errno.
 */
int oxa_output_write(struct oxa_agent *a, const char *path);
/* The largest existing profile merged into. */
#define OXA_OUTPUT_MERGE_MAX (256 << 20)

#endif
