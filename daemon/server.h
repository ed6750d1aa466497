/*
 * server.h - the daemon's state and its listening socket: the shared path
 * rule or a socket passed by systemd (LISTEN_FDS), refusing to start over a
 * live socket, readiness notification, snapshots, graceful stop.
 */
#ifndef OXD_SERVER_H
#define OXD_SERVER_H

#include <stdint.h>
#include <uv.h>

#include "agg.h"
#include "config.h"
#include "fleet.h"

struct oxd_conn;

struct oxd_server {
	uv_loop_t *loop;
	const struct oxd_config *cfg;  /* owned by main */
	uv_pipe_t listener;
	uv_timer_t snapshot_timer;
	uv_timer_t durable_timer;      /* a snapshot soon after batches arrive */
	char path[108];
	int listening;
	int socket_activated;          /* systemd owns the socket file */
	int stopping;
	struct oxd_agg agg;
	struct oxd_fleet fleet;
	struct oxd_conn *conns;        /* every open connection */
	uint32_t nconns;
	uint64_t refused_conns;        /* dropped: bad input, limits, access */
	uint64_t start_ms;             /* Unix ms */
	uint64_t snap_mark;            /* what the last snapshot held */
	uint64_t batches;              /* SAMPLES aggregated, ever */
	uint64_t snap_done_ms;         /* monotonic ms the last write ended */
	double snap_write_ms;          /* how long it took */
};

/* Set up state and load the snapshot.  0 or -errno. */
int oxd_server_init(struct oxd_server *s, uv_loop_t *loop, const struct oxd_config *cfg);
/* Listen (LISTEN_FDS or bind), then notify systemd.  0 or -errno, logged. */
int oxd_server_listen(struct oxd_server *s);
/* Graceful stop: no new connections, BYE to everyone, final snapshot,
 * close every handle so the loop ends. */
void oxd_server_stop(struct oxd_server *s, const char *why);
/* Write a snapshot now if there is a state dir and anything changed. */
void oxd_server_snapshot(struct oxd_server *s, int force);
/* A batch was aggregated: with a state dir, schedule the snapshot that
 * makes it durable (rate-bounded, see server.c). */
void oxd_server_batch(struct oxd_server *s);
/* After the loop has ended. */
void oxd_server_destroy(struct oxd_server *s);

void oxd_server_add(struct oxd_server *s, struct oxd_conn *c);
void oxd_server_remove(struct oxd_server *s, struct oxd_conn *c);

/* Unix time in ms. */
uint64_t oxd_now_ms(void);

#endif
