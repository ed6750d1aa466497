/*
 * fleet.h - the sampling state the daemon wants: a fleet default that
 * joining agents adopt, and per-agent desired states changed by commands
 * with a selector.
 */
#ifndef OXD_FLEET_H
#define OXD_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "oxp/oxp.h"

struct oxd_server;

struct oxd_fleet {
	struct oxp_fleet state; /* what a joining agent adopts */
	uint64_t seq;           /* bumped by every SET_STATE and fleet change */
};

void oxd_fleet_init(struct oxd_fleet *f, const struct oxd_config *cfg);

/*
 * Run start, stop, pause or unpause.  Without a selector the fleet default
 * changes and every agent is told; with one, only the matching agents.
 * start also forgets the samples of what it applies to.  Returns 0 with
 * *affected agents told and msg filled for the reply, -OXP_ENOMATCH when a
 * selector matches no connected agent (nothing changes), or -EINVAL for a
 * bad parameter.
 */
int oxd_fleet_command(struct oxd_server *s, const struct oxp_command *cmd, uint32_t *affected,
		      char *msg, size_t msglen);

/* Run reset (fleet-wide, or the selected processes' samples). */
int oxd_fleet_reset(struct oxd_server *s, const struct oxp_command *cmd, uint32_t *affected,
		    char *msg, size_t msglen);

const char *oxd_fleet_cmd_name(unsigned cmd);

#endif
