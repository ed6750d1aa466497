/*
 * report.h - a query's result (QUERY_HEAD and its rows) as plain owned
 * data, and the three ways to write it: a table for people, JSON for
 * scripts, folded stacks for flame graph tools.  Used by `query` and
 * `record`.
 */
#ifndef OXC_REPORT_H
#define OXC_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "ctl.h"

struct oxc_row {
	char *name;             /* owned; demangled unless asked not to */
	char *system_name;      /* owned: the name as reported, when demangling
				   changed it; else NULL */
	char *module;           /* owned */
	int32_t pid, tid;
	uint64_t self, total;
};

struct oxc_report {
	int by, sort;           /* what was asked (enum oxp_by, oxp_sort) */
	int no_demangle;        /* fetch leaves names as reported */
	uint64_t total;         /* samples matching the filter */
	uint64_t first_ms, last_ms; /* Unix ms; 0 when nothing arrived */
	uint32_t nprocs;
	/* CPU time of the processes while sampled, ms, and the part of it
	 * the samples stand for (QUERY_HEAD, PROTOCOL.md). */
	uint64_t user_ms, sys_ms, covered_ms;
	/* The window the rows cover, Unix ms [since, until): the time slots
	 * the daemon used; 0, 0 for everything since the last reset. */
	uint64_t since_ms, until_ms;
	uint32_t nrows, cap;
	struct oxc_row *rows;   /* owned, in the daemon's order */
};

void oxc_report_init(struct oxc_report *r, int by, int sort);
void oxc_report_destroy(struct oxc_report *r);
/* Append a row (copies the strings). */
void oxc_report_add(struct oxc_report *r, const char *name, size_t nlen, const char *module,
		    size_t mlen, int32_t pid, int32_t tid, uint64_t self, uint64_t total);

/* Merge rows with the same name and module, then order by self count
 * (descending).  fetch does this for stacks. */
void oxc_report_merge(struct oxc_report *r);

/* Demangle function names (by function, and each frame by stack), keeping
 * the reported ones in system_name.  fetch does this unless no_demangle. */
void oxc_report_demangle(struct oxc_report *r);

/* Run cmd (a QUERY) on c and collect the answer into r.  0 or the error
 * from oxc_ctl_command (c->err says why). */
int oxc_report_fetch(struct oxc_ctl *c, const struct oxp_command *cmd, struct oxc_report *r);

/*
 * The table: a header line with the total and the time span, a line with
 * the CPU time and the part of it sampled (when the daemon knows it), then
 * aligned columns.  width 0 = no truncation; bold = embolden the header row.
 */
void oxc_report_table(const struct oxc_report *r, FILE *f, int width, int bold);
/* One JSON document (fields in client/JSON.md). */
void oxc_report_json(const struct oxc_report *r, FILE *f);
/* The same object as a member (key) or element (NULL) of a larger one. */
struct oxc_json;
void oxc_report_json_write(struct oxc_json *j, const char *key, const struct oxc_report *r);
/* "root;...;leaf count" lines; rows of other groupings as "name count". */
void oxc_report_folded(const struct oxc_report *r, FILE *f);

/*
 * The file formats (enum oxc_format but the table): which grouping
 * (enum oxp_by) each needs from the daemon, whether its writer is built,
 * and writing r in it to f.  One table in report.c holds all three, so a
 * new writer is one line there.  oxc_report_write returns 0, -ENOSYS for
 * a format without a writer yet, -EINVAL for one that is not a file
 * format, or the writer's own -errno.  Write errors on f are not seen
 * here: f is a sink (sink.h), checked when it is closed.
 */
/* How much of the CPU the profile covers, one line without a newline, e.g.
 * "1.08 s user + 0.92 s system; sampled: user+system time, 99.5 samples
 * per CPU-second"; empty (0) before any process reported its CPU time.
 * The length written. */
size_t oxc_report_cpu_line(const struct oxc_report *r, char *buf, size_t len);
int oxc_report_format_by(int format);
int oxc_report_format_built(int format);
int oxc_report_write(const struct oxc_report *r, int format, FILE *f);

/* Module basename: "/usr/lib/libc.so.6" -> "libc.so.6". */
const char *oxc_report_basename(const char *path);

#endif
