/* peer.h - what one peer says, and the daemon's answers (see peer.c). */
#ifndef OXD_PEER_H
#define OXD_PEER_H

#include "conn.h"

/* The connections' callbacks, for oxd_server_init. */
extern const struct oxd_net_ops oxd_peer_ops;

#endif
