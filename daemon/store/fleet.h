/*
 * fleet.h - the sampling state the daemon wants, as pure functions: a
 * fleet default that joining agents adopt, the state a command leads to,
 * and reset of the aggregate.  Telling connections is the hub's job
 * (daemon.c).
 */
#ifndef OXD_FLEET_H
#define OXD_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"
#include "config.h"
#include "oxp/oxp.h"

struct oxd_fleet {
	struct oxp_fleet state; /* what a joining agent adopts */
	uint64_t seq;           /* bumped by every SET_STATE and fleet change */
};

void oxd_fleet_init(struct oxd_fleet *f, const struct oxd_config *cfg);

/* The state after start, stop, pause or unpause, starting from *f.
 * 0, or -EINVAL for a bad start parameter (*f unchanged). */
int oxd_fleet_next(const struct oxp_command *cmd, struct oxp_fleet *f);

/* Whether a command names processes (pids or exe). */
int oxd_fleet_selects(const struct oxp_selector *sel);

/* Forget the samples a start or reset applies to: all, or the selected
 * processes'.  Returns the process rows cleared. */
uint32_t oxd_fleet_forget(struct oxd_agg *a, const struct oxp_selector *sel);

/* Run reset (fleet-wide, or the selected processes' samples). */
int oxd_fleet_reset(struct oxd_agg *a, const struct oxp_command *cmd, uint32_t *affected,
		    char *msg, size_t msglen);

const char *oxd_fleet_cmd_name(unsigned cmd);

#endif
