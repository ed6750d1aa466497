/*
 * daemon.h - the hub: the daemon's state (aggregate, fleet, connections),
 * snapshots and their timers, fleet commands applied to the connected
 * agents, graceful stop.  What one peer says is peer.c's.
 */
#ifndef OXD_DAEMON_H
#define OXD_DAEMON_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "agg.h"
#include "config.h"
#include "conn.h"
#include "fleet.h"

struct oxd_server {
	struct oxd_net net;            /* the listener and every connection */
	uv_loop_t *loop;
	const struct oxd_config *cfg;  /* owned by main */
	uv_timer_t snapshot_timer;
	uv_timer_t durable_timer;      /* a snapshot soon after batches arrive */
	struct oxd_agg agg;
	struct oxd_fleet fleet;
	uint64_t start_ms;             /* Unix ms */
	uint64_t snap_mark;            /* what the last snapshot held */
	uint64_t snap_done_ms;         /* monotonic ms the last write ended */
	double snap_write_ms;          /* how long it took */
};

/* Set up state and load the snapshot; peers are handled by ops (peer.c's).
 * 0 or -errno. */
int oxd_server_init(struct oxd_server *s, uv_loop_t *loop, const struct oxd_config *cfg,
		    const struct oxd_net_ops *ops);
/* Listen (LISTEN_FDS or bind), then notify systemd.  0 or -errno, logged. */
int oxd_server_listen(struct oxd_server *s);
/* Graceful stop: no new connections, BYE to everyone, final snapshot,
 * close every handle so the loop ends. */
void oxd_server_stop(struct oxd_server *s, const char *why);
/* Write a snapshot now if there is a state dir and anything changed. */
void oxd_server_snapshot(struct oxd_server *s, int force);
/* A batch was aggregated: with a state dir, schedule the snapshot that
 * makes it durable (rate-bounded, see daemon.c). */
void oxd_server_batch(struct oxd_server *s);
/* After the loop has ended. */
void oxd_server_destroy(struct oxd_server *s);

/*
 * Run start, stop, pause or unpause.  Without a selector the fleet default
 * changes and every agent is told; with one, only the matching agents.
 * start also forgets the samples of what it applies to.  Returns 0 with
 * *affected agents told and msg filled for the reply, -OXP_ENOMATCH when a
 * selector matches no connected agent (nothing changes), or -EINVAL for a
 * bad parameter.
 */
int oxd_server_command(struct oxd_server *s, const struct oxp_command *cmd, uint32_t *affected,
		       char *msg, size_t msglen);

#endif
