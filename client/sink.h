/*
 * sink.h - where oxprofctl's output goes, and the one place its write
 * errors are caught.
 *
 * A sink is a FILE * over a file descriptor whose every write(2) goes
 * through the sink, which remembers the first error with its errno.  Any
 * writer (the table, JSON, folded stacks, pprof, the HTML flame graph)
 * just writes to s->f with stdio and need not check each call;
 * oxc_sink_close() then flushes, closes and says whether everything
 * arrived.
 *
 * Standard output is a sink too: main() calls oxc_sink_stdout(), which
 * makes `stdout` itself the checked stream (glibc lets a program assign
 * stdout), and oxc_sink_finish_stdout() before exiting, as coreutils'
 * close_stdout does.
 *
 * A file (record -o FILE) is written to a temporary file in FILE's
 * directory, created with O_EXCL|O_NOFOLLOW, and renamed over FILE only
 * when every byte was written and the close succeeded; on failure the
 * temporary file is removed, so FILE is either complete or untouched,
 * never half-written.  A FILE that exists and is not a regular file
 * (/dev/stdout, a FIFO) is opened and written in place.
 */
#ifndef OXC_SINK_H
#define OXC_SINK_H

#include <limits.h>
#include <stdio.h>

struct oxc_sink {
	FILE *f;                /* write here; NULL when closed */
	int fd;                 /* what f writes to; -1 when closed */
	int err;                /* the first error, -errno; sticky */
	int owns_fd;            /* close fd when done (not for stdout) */
	char name[PATH_MAX];    /* for messages: the path, or "standard output" */
	char tmp[PATH_MAX];     /* the temporary file while writing, else "" */
	char final[PATH_MAX];   /* what tmp is renamed to */
};

/*
 * Create path's temporary file now (so that a missing directory, a
 * directory given as FILE, or no permission show before any work is
 * done).  0, or -errno (and nothing is left behind); oxc_sink_fail()
 * prints the message.
 */
int oxc_sink_open(struct oxc_sink *s, const char *path);

/*
 * Flush and close, then rename the temporary file to its name.  0 when
 * everything was written; else the first error as -errno, the temporary
 * file removed.  Safe on a sink that failed to open or was closed.
 */
int oxc_sink_close(struct oxc_sink *s);

/* Give up: close, remove the temporary file; the named file is untouched. */
void oxc_sink_discard(struct oxc_sink *s);

/*
 * "oxprofctl: cannot write NAME: STRERROR" on stderr, like coreutils.
 * Returns 1, the failure exit code.
 */
int oxc_sink_fail(const struct oxc_sink *s, int err);

/*
 * Make stdout a checked stream over fd 1 (line buffered on a terminal,
 * fully buffered otherwise, like stdio's own).  Call once, first thing.
 */
void oxc_sink_stdout(void);

/*
 * Flush and check standard output.  Returns code unchanged when everything
 * written arrived, else prints why and returns 1.  Call once, last thing.
 */
int oxc_sink_finish_stdout(int code);

/* The first write error on standard output so far (-errno), or 0. */
int oxc_sink_stdout_error(void);

#endif
