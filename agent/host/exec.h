/*
 * exec.h - the process image ending without exit(): exec* and _exit are
 * wrapped so the agent can flush what it sampled (the stand-alone profile,
 * the daemon's last batch) first.  exit() needs none of this: the agent's
 * destructor runs then.
 */
#ifndef OXA_EXEC_H
#define OXA_EXEC_H

#include <stddef.h>

/*
 * What runs before the image ends: set by the agent's start (api.c) and
 * called with for_exec 1 before an exec, 0 before _exit.  It returns 1
 * when it stopped the agent, so that a failed exec can start it again
 * through oxa_exec_after_failure.
 */
extern int (*oxa_exec_before)(int for_exec);
extern void (*oxa_exec_after_failure)(void);
/*
 * The environment entry ("NAME=value", into buf of len bytes) that tells
 * the new image the sampling state of this one, so it samples from its
 * first instruction when this one did (config.h, OXPROF_FLEET); 0 when
 * there is nothing to pass on.  Called before oxa_exec_before; must be
 * async-signal-safe (a fork child of a threaded host may exec).  Every
 * OXPROF_FLEET entry of the environment the exec was given is dropped.
 */
extern int (*oxa_exec_env)(char *buf, size_t len);
/* Resolve the real functions; before anything can call a wrapper from a
 * signal handler.  Idempotent. */
void oxa_exec_init(void);

#endif
