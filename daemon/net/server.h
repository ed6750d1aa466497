/*
 * server.h - the listening socket: the shared path rule or a socket passed
 * by systemd (LISTEN_FDS), refusing to start over a live socket, readiness
 * notification (sd_notify), and admission of each new connection.
 */
#ifndef OXD_SERVER_H
#define OXD_SERVER_H

#include <uv.h>

#include "agg.h"
#include "config.h"
#include "conn.h"

void oxd_net_init(struct oxd_net *n, uv_loop_t *loop, const struct oxd_config *cfg,
		  struct oxd_agg *agg, const struct oxd_net_ops *ops, void *data);
/* Listen (LISTEN_FDS or bind).  0 or -errno, logged. */
int oxd_net_listen(struct oxd_net *n);
/* Tell systemd we serve (READY=1). */
void oxd_net_ready(void);
/* No new connections: STOPPING=1, the listener closed (and its socket
 * file removed unless systemd owns it).  Open connections stay. */
void oxd_net_stop(struct oxd_net *n);

#endif
