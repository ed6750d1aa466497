/*
 * record.h - the machinery behind `oxprofctl record`: finding the agent and
 * the daemon next to our own binary, a private oxprofd in a private temp
 * dir, running the program with the agent preloaded, and forwarding
 * signals to it.
 *
 * Signal contract: oxc_record_signals() installs handlers for SIGINT,
 * SIGTERM and SIGHUP that only forward the signal to the program (once it
 * runs) and remember it; everything else happens in normal context.
 */
#ifndef OXC_RECORD_H
#define OXC_RECORD_H

#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * The agent library: $OXPROF_AGENT, else next to our binary: the build
 * tree's ../agent/liboxprof.so, the installed ../lib/<multiarch>/, ../lib64/
 * or ../lib/liboxprof.so.  Absolute path into buf; 0 or -ENOENT with a
 * message in err.
 */
int oxc_record_find_agent(char *buf, size_t len, char *err, size_t errlen);

/*
 * The daemon: $OXPROF_DAEMON when it names a program (not the agent's
 * "0"), else oxprofd next to our binary (or ../daemon/ in the build tree,
 * ../sbin/ when installed), else in $PATH.  0 or -ENOENT with err.
 */
int oxc_record_find_daemon(char *buf, size_t len, char *err, size_t errlen);

/* A private oxprofd for one run. */
struct oxc_daemon {
	pid_t pid;              /* 0 when not running */
	char dir[PATH_MAX - 64]; /* mkdtemp directory, "" when none */
	char sock[PATH_MAX];    /* dir/oxprof.sock */
	char log[PATH_MAX];     /* dir/oxprofd.log: its stderr */
};

/*
 * Make a private dir under $TMPDIR (or /tmp), start exe there with
 * --socket dir/oxprof.sock in its own session (so a Ctrl-C meant for the
 * program does not kill it), and wait up to timeout_ms until it answers a
 * handshake.  On failure everything is cleaned up and err says why (with
 * the daemon's last log line).  0 or a negative code.
 */
int oxc_record_daemon_start(struct oxc_daemon *d, const char *exe, int timeout_ms,
			    char *err, size_t errlen);
/* SIGTERM, wait (then SIGKILL), remove the dir.  Safe to call twice. */
void oxc_record_daemon_stop(struct oxc_daemon *d);

/* What the program gets in its environment. */
struct oxc_spawn {
	char *const *argv;
	const char *agent;      /* appended to LD_PRELOAD */
	const char *sock;       /* OXPROF_SOCKET */
	uint32_t hz;            /* OXPROF_HZ */
	int mode;               /* OXPROF_MODE, -1 = agent default */
	uint32_t depth;         /* OXPROF_DEPTH, 0 = agent default */
	int stdout_to_stderr;   /* --json: our stdout carries only the document */
};

/* Install the forwarding handlers (see above) / put the old ones back. */
void oxc_record_signals(void);
void oxc_record_signals_restore(void);
/* The last signal received (0 = none), and forgetting it. */
int oxc_record_signal_seen(void);
void oxc_record_signal_clear(void);

/*
 * Start the program.  0 with *pid set; or -errno when it could not be run
 * (exec failed: err names the program and why; nothing is left running).
 */
int oxc_record_spawn(const struct oxc_spawn *s, pid_t *pid, char *err, size_t errlen);
/*
 * Whether the loader will preload the agent into prog (resolved through
 * PATH as execvp does): not into a statically linked executable (no
 * PT_INTERP), nor a set-user-ID or set-group-ID one that changes our
 * identity.  1 with the reason in why when it will not; 0 when nothing
 * stands in the way or it cannot be told (a script, an unreadable file).
 */
int oxc_record_unpreloadable(const char *prog, char *why, size_t len);

/* Wait for the program; returns its exit status, or 128+signal. */
int oxc_record_wait(pid_t pid);

#endif
