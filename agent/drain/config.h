/* config.h - the agent's settings, from OXPROF_* variables or the API. */
#ifndef OXA_CONFIG_H
#define OXA_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

struct oxa_config {
	char socket[108];      /* daemon socket; "" = no daemon */
	char output[4096];     /* stand-alone folded output; "" = none */
	unsigned hz;
	int mode;              /* enum oxp_mode */
	unsigned depth;
	int start_running;     /* sample from the start, whatever the fleet says */
	int inherited;         /* OXPROF_FLEET: sample from the start, as the
				  image before an exec did, until WELCOME */
	int signo;             /* 0 = let the sampler choose */
	unsigned flush_ms;     /* how often the drain thread sends */
	int flush_ms_env;      /* set by OXPROF_FLUSH_MS: the daemon's
				  --flush-ms (WELCOME) does not replace it */
	size_t buffer_bytes;   /* budget of the unsent-stack table */
	int trusted_uid;       /* OXPROF_DAEMON_USER, -1 = none */
};

/*
 * Fill c from the environment (secure_getenv, so nothing under AT_SECURE).
 * Returns 0, or -EINVAL with a message in why for a bad value.
 * Variables: OXPROF_SOCKET, OXPROF_DAEMON (0 = never connect), OXPROF_HZ,
 * OXPROF_MODE (cpu|wall), OXPROF_DEPTH, OXPROF_START (1 = sample at once),
 * OXPROF_OUTPUT, OXPROF_SIGNAL, OXPROF_FLUSH_MS, OXPROF_BUFFER_KB,
 * OXPROF_DAEMON_USER, OXPROF_LOG_LEVEL.
 *
 * OXPROF_FLEET=HZ,MODE,DEPTH is the agent's own: its exec wrappers
 * (host/exec.h) put it in the new image's environment when the old one
 * was sampling, so the new one samples from its first instruction as the
 * old one did until the daemon's WELCOME says what the fleet does; unlike
 * OXPROF_START it does not outlast WELCOME.  A bad value is ignored.
 *
 * OXPROF_OUTPUT: "%p" is replaced by the pid (one file per process).
 * Without it, every process of a run writes to the one file: a profile
 * found there that was written after this process started (a wrapper's
 * child, a forked worker, this process before an exec) is added to, an
 * older one (a previous run) is replaced, and a process that sampled
 * nothing leaves a fresh one alone.  A relative path is relative to the
 * working directory at start.  OXPROF_SIGNAL may not name a fault signal
 * (SEGV, BUS, ILL, FPE, TRAP, SYS), KILL or STOP.
 */
int oxa_config_from_env(struct oxa_config *c, char *why, size_t whylen);
/* A relative output path made absolute now, against the working directory
 * at start: a daemon chdir()s to / before it writes its profile at exit.
 * 0 or -errno. */
int oxa_config_absolute_output(struct oxa_config *c);

#endif
