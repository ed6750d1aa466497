/*
 * fleet.h - the fleet commands (start, stop, pause, unpause, reset) are one
 * COMMAND and one REPLY each; this is that exchange and its report.
 */
#ifndef OXC_FLEET_H
#define OXC_FLEET_H

#include <stdint.h>

#include "args.h"

/* Send command `code` with o's selector (and rate for start), print what
 * happened (text or --json).  Returns the exit code: 0, or 1 on failure. */
int oxc_fleet_exec(const struct oxc_opts *o, uint8_t code);

#endif
