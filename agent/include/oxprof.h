/*
 * oxprof.h - public API of liboxprof, the oxprof in-process agent.
 *
 * Loaded with LD_PRELOAD, the agent starts itself (paused) from a
 * constructor, configured by OXPROF_* environment variables.  Linked into a
 * program, it can also be driven from here.  Every function returns 0 or a
 * negative errno and is safe to call from any thread (not from a signal
 * handler).
 */
#ifndef OXPROF_H
#define OXPROF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OXPROF_EXTERN __attribute__((visibility("default")))

enum oxprof_mode { OXPROF_MODE_CPU = 0, OXPROF_MODE_WALL = 1 };

struct oxprof_options {
	unsigned hz;          /* 0 = 100 */
	int mode;             /* enum oxprof_mode */
	unsigned depth;       /* 0 = 128 */
	const char *socket;   /* daemon socket; NULL = OXPROF_SOCKET / rule */
	const char *output;   /* stand-alone: folded stacks written here at stop */
	int no_daemon;        /* 1: never connect, profile stand-alone */
	int start_running;    /* 1: sample at once, without waiting for a daemon */
};

struct oxprof_status {
	int running;          /* sampling now */
	int connected;        /* to a daemon */
	int mode;
	unsigned hz_requested;
	double hz_achieved;
	char source[64];      /* sampling source in use, or why disabled */
	uint64_t taken, sent, dropped, skipped, unwind_fail;
};

/* Start the agent (if the constructor did not).  opts may be NULL. */
OXPROF_EXTERN int oxprof_start(const struct oxprof_options *opts);
OXPROF_EXTERN int oxprof_pause(void);
OXPROF_EXTERN int oxprof_unpause(void);
/* Stop sampling, flush to the daemon and/or the output file, release. */
OXPROF_EXTERN int oxprof_stop(void);
OXPROF_EXTERN int oxprof_status(struct oxprof_status *st);
/*
 * Stand-alone query: write what this process has aggregated so far, as
 * folded stacks ("a;b;c 42\n"), to the file descriptor fd.
 */
OXPROF_EXTERN int oxprof_dump_folded(int fd);

#ifdef __cplusplus
}
#endif

#endif
