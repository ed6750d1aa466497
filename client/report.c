/* report.c - query results: collect, then write as table, JSON or folded. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "demangle.h"
#include "format.h"
#include "json.h"
#include "report.h"
#include "table.h"
#include "ox/xalloc.h"

void oxc_report_init(struct oxc_report *r, int by, int sort)
{
	memset(r, 0, sizeof(*r));
	r->by = by;
	r->sort = sort;
}

void oxc_report_destroy(struct oxc_report *r)
{
	for (uint32_t i = 0; i < r->nrows; i++) {
		free(r->rows[i].name);
		free(r->rows[i].system_name);
		free(r->rows[i].module);
	}
	free(r->rows);
	r->rows = NULL;
	r->nrows = r->cap = 0;
}

void oxc_report_add(struct oxc_report *r, const char *name, size_t nlen, const char *module,
		    size_t mlen, int32_t pid, int32_t tid, uint64_t self, uint64_t total)
{
	if (r->nrows == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->rows = ox_xrealloc(r->rows, r->cap * sizeof(*r->rows));
	}
	struct oxc_row *row = &r->rows[r->nrows++];
	row->name = ox_xstrndup(name ? name : "", name ? nlen : 0);
	row->system_name = NULL;
	row->module = ox_xstrndup(module ? module : "", module ? mlen : 0);
	row->pid = pid;
	row->tid = tid;
	row->self = self;
	row->total = total;
}

/* oxc_ctl_fn: keep QUERY_HEAD and the rows; the messages are borrowed. */
static int collect(void *arg, const struct oxp_msg *m)
{
	struct oxc_report *r = arg;
	if (m->type == OXP_MSG_QUERY_HEAD) {
		r->total = m->u.query_head.total;
		r->first_ms = m->u.query_head.first_ms;
		r->last_ms = m->u.query_head.last_ms;
		r->nprocs = m->u.query_head.nprocs;
		r->user_ms = m->u.query_head.user_ms;
		r->sys_ms = m->u.query_head.sys_ms;
		r->covered_ms = m->u.query_head.covered_ms;
		r->since_ms = m->u.query_head.since_ms;
		r->until_ms = m->u.query_head.until_ms;
	} else if (m->type == OXP_MSG_QUERY_ROWS) {
		for (uint32_t i = 0; i < m->u.query_rows.nrows; i++) {
			const struct oxp_row *w = &m->u.query_rows.rows[i];
			oxc_report_add(r, w->name.ptr, w->name.len, w->module.ptr, w->module.len,
				       w->pid, w->tid, w->self, w->total);
		}
	}
	return 0;
}

static int by_name(const void *a, const void *b)
{
	const struct oxc_row *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->module, y->module);
}

static int by_count(const void *a, const void *b)
{
	const struct oxc_row *x = a, *y = b;
	if (x->self != y->self)
		return x->self < y->self ? 1 : -1;
	return strcmp(x->name, y->name);
}

void oxc_report_merge(struct oxc_report *r)
{
	if (r->nrows < 2)
		return;
	qsort(r->rows, r->nrows, sizeof(*r->rows), by_name);
	uint32_t out = 0;
	for (uint32_t i = 1; i < r->nrows; i++) {
		struct oxc_row *keep = &r->rows[out], *w = &r->rows[i];
		if (!strcmp(keep->name, w->name) && !strcmp(keep->module, w->module)) {
			keep->self += w->self;
			keep->total += w->total;
			free(w->name);
			free(w->system_name);
			free(w->module);
		} else {
			r->rows[++out] = *w;
		}
	}
	r->nrows = out + 1;
	qsort(r->rows, r->nrows, sizeof(*r->rows), by_count);
}

void oxc_report_demangle(struct oxc_report *r)
{
	if (r->by != OXP_BY_FUNCTION && r->by != OXP_BY_STACK)
		return;
	for (uint32_t i = 0; i < r->nrows; i++) {
		struct oxc_row *w = &r->rows[i];
		char *d = r->by == OXP_BY_STACK ? oxc_demangle_folded(w->name) : oxc_demangle(w->name);
		if (!d || w->system_name) {
			free(d);
			continue;
		}
		w->system_name = w->name;
		w->name = d;
	}
}

int oxc_report_fetch(struct oxc_ctl *c, const struct oxp_command *cmd, struct oxc_report *r)
{
	int e = oxc_ctl_command(c, cmd, collect, r);
	if (e == 0 && !r->no_demangle)
		oxc_report_demangle(r);
	/* The daemon may keep stacks apart that differ only in addresses
	 * within a function; by name they are one line of folded output. */
	if (e == 0 && r->by == OXP_BY_STACK)
		oxc_report_merge(r);
	return e;
}

const char *oxc_report_basename(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* ---- table ---- */

/* What the samples cover: "user+system", "user", "none" (no CPU time
 * sampled: wall mode), "" before any process reported its CPU time. */
static const char *covers_name(const struct oxc_report *r)
{
	uint64_t all = r->user_ms + r->sys_ms;
	if (!all)
		return "";
	if (!r->covered_ms)
		return "none";
	return r->covered_ms >= all ? "user+system" : r->covered_ms >= r->user_ms ? "user" : "part";
}

/* Samples per CPU-second of the time they cover. */
static double covered_hz(const struct oxc_report *r)
{
	return r->covered_ms ? (double)r->total * 1000.0 / (double)r->covered_ms : 0.0;
}

size_t oxc_report_cpu_line(const struct oxc_report *r, char *buf, size_t len)
{
	const char *c = covers_name(r);
	buf[0] = 0;
	if (!*c || !len)
		return 0;
	uint64_t all = r->user_ms + r->sys_ms;
	size_t n = (size_t)snprintf(buf, len, "%.2f s user + %.2f s system; sampled: %s time",
				    r->user_ms / 1000.0, r->sys_ms / 1000.0, c);
	if (n < len && r->covered_ms < all)
		n += (size_t)snprintf(buf + n, len - n,
				      " (%.0f %% of the CPU; the rest is not in this profile)",
				      100.0 * (double)r->covered_ms / (double)all);
	if (n < len && r->covered_ms)
		n += (size_t)snprintf(buf + n, len - n, ", %.1f samples per CPU-second",
				      covered_hz(r));
	return n < len ? n : len - 1;
}

/* "cpu time: 1.08 s user + 0.92 s system; sampled: user+system, 99.5 Hz"
 * - a profile says how much of the CPU it covers. */
static void cpu_header(const struct oxc_report *r, FILE *f)
{
	char line[256];
	if (oxc_report_cpu_line(r, line, sizeof(line)))
		fprintf(f, "cpu time: %s\n", line);
}

/* "window: 2026-12-02 14:00:00 - 14:05:00 (5.0 min)": the time slots a
 * --since/--until query covered. */
static void window_header(const struct oxc_report *r, FILE *f)
{
	char span[32], t0[32], t1[32];
	if (!r->since_ms && !r->until_ms)
		return;
	oxc_fmt_duration(span, sizeof(span), r->until_ms - r->since_ms);
	oxc_fmt_time(t0, sizeof(t0), r->since_ms);
	oxc_fmt_time(t1, sizeof(t1), r->until_ms);
	const char *t1s = strncmp(t0, t1, 11) == 0 ? t1 + 11 : t1;
	fprintf(f, "window: %s - %s (%s, whole time slots)\n", t0, t1s, span);
}

/* The header: "12345 samples from 2 processes over 12.3 s (from ... to ...)". */
static void table_header(const struct oxc_report *r, FILE *f)
{
	char span[32], t0[32], t1[32];
	fprintf(f, "%llu sample%s from %u process%s", (unsigned long long)r->total,
		r->total == 1 ? "" : "s", (unsigned)r->nprocs, r->nprocs == 1 ? "" : "es");
	if (r->first_ms && r->last_ms >= r->first_ms) {
		oxc_fmt_duration(span, sizeof(span), r->last_ms - r->first_ms);
		oxc_fmt_time(t0, sizeof(t0), r->first_ms);
		oxc_fmt_time(t1, sizeof(t1), r->last_ms);
		/* The second timestamp without its date when it is the same day. */
		const char *t1s = strncmp(t0, t1, 11) == 0 ? t1 + 11 : t1;
		fprintf(f, " over %s (%s - %s)", span, t0, t1s);
	}
	fprintf(f, ", by %s, sorted by %s\n", oxc_by_name(r->by), oxc_sort_name(r->sort));
	window_header(r, f);
	cpu_header(r, f);
}

/* Columns per grouping: percentages and counts, then the names. */
static struct oxc_table *table_new(int by)
{
	static const char *const fn[] = { "SELF%", "TOTAL%", "SELF", "TOTAL", "FUNCTION", "MODULE" };
	static const char *const mod[] = { "SELF%", "TOTAL%", "SELF", "TOTAL", "MODULE" };
	static const char *const proc[] = { "SELF%", "TOTAL%", "SELF", "TOTAL", "PID", "PROCESS" };
	static const char *const exe[] = { "SELF%", "TOTAL%", "SELF", "TOTAL", "EXE" };
	static const char *const thr[] = { "SELF%", "TOTAL%", "SELF", "TOTAL", "PID", "TID", "THREAD" };
	static const char *const stk[] = { "%", "SAMPLES", "STACK (root first)" };
	switch (by) {
	case OXP_BY_MODULE: return oxc_table_new(5, mod, "rrrrl");
	case OXP_BY_PROCESS: return oxc_table_new(6, proc, "rrrrrl");
	case OXP_BY_EXE: return oxc_table_new(5, exe, "rrrrl");
	case OXP_BY_THREAD: return oxc_table_new(7, thr, "rrrrrrl");
	case OXP_BY_STACK: return oxc_table_new(3, stk, "rrl");
	}
	return oxc_table_new(6, fn, "rrrrll");
}

static void table_row(struct oxc_table *t, const struct oxc_report *r, const struct oxc_row *w)
{
	char sp[16], tp[16], s[24], tot[24], pid[16], tid[16];
	oxc_fmt_pct(sp, sizeof(sp), w->self, r->total);
	oxc_fmt_pct(tp, sizeof(tp), w->total, r->total);
	snprintf(s, sizeof(s), "%llu", (unsigned long long)w->self);
	snprintf(tot, sizeof(tot), "%llu", (unsigned long long)w->total);
	snprintf(pid, sizeof(pid), "%d", (int)w->pid);
	snprintf(tid, sizeof(tid), "%d", (int)w->tid);
	const char *name = w->name[0] ? w->name : "[unknown]";
	const char *module = oxc_report_basename(w->module);
	switch (r->by) {
	case OXP_BY_MODULE:
	case OXP_BY_EXE:
		oxc_table_add(t, (const char *const[]){ sp, tp, s, tot, name });
		return;
	case OXP_BY_PROCESS:
		oxc_table_add(t, (const char *const[]){ sp, tp, s, tot, pid, name });
		return;
	case OXP_BY_THREAD:
		oxc_table_add(t, (const char *const[]){ sp, tp, s, tot, pid, tid, name });
		return;
	case OXP_BY_STACK:
		oxc_table_add(t, (const char *const[]){ sp, s, name });
		return;
	}
	oxc_table_add(t, (const char *const[]){ sp, tp, s, tot, name, module });
}

void oxc_report_table(const struct oxc_report *r, FILE *f, int width, int bold)
{
	table_header(r, f);
	if (r->nrows == 0) {
		fprintf(f, "no samples%s\n", r->total ? " in the rows asked for"
					       : r->since_ms || r->until_ms ? " in this window" : " yet");
		return;
	}
	struct oxc_table *t = table_new(r->by);
	for (uint32_t i = 0; i < r->nrows; i++)
		table_row(t, r, &r->rows[i]);
	oxc_table_print(t, f, width, bold);
	oxc_table_free(t);
}

/* ---- JSON and folded ---- */

static void json_row(struct oxc_json *j, const struct oxc_report *r, const struct oxc_row *w)
{
	double whole = r->total ? (double)r->total : 1.0;
	oxc_json_obj(j, NULL);
	oxc_json_cstr(j, "name", w->name);
	if (r->by == OXP_BY_FUNCTION || r->by == OXP_BY_STACK)
		oxc_json_cstr(j, "system_name", w->system_name ? w->system_name : w->name);
	oxc_json_cstr(j, "module", w->module);
	oxc_json_i64(j, "pid", w->pid);
	oxc_json_i64(j, "tid", w->tid);
	oxc_json_u64(j, "self", w->self);
	oxc_json_u64(j, "total", w->total);
	oxc_json_f64(j, "self_pct", 100.0 * (double)w->self / whole, 2);
	oxc_json_f64(j, "total_pct", 100.0 * (double)w->total / whole, 2);
	oxc_json_end(j, '}');
}

void oxc_report_json_write(struct oxc_json *j, const char *key, const struct oxc_report *r)
{
	oxc_json_obj(j, key);
	oxc_json_cstr(j, "by", oxc_by_name(r->by));
	oxc_json_cstr(j, "sort", oxc_sort_name(r->sort));
	oxc_json_u64(j, "total", r->total);
	oxc_json_u64(j, "first_ms", r->first_ms);
	oxc_json_u64(j, "last_ms", r->last_ms);
	oxc_json_u64(j, "span_ms", r->last_ms >= r->first_ms ? r->last_ms - r->first_ms : 0);
	oxc_json_u64(j, "processes", r->nprocs);
	oxc_json_u64(j, "cpu_user_ms", r->user_ms);
	oxc_json_u64(j, "cpu_sys_ms", r->sys_ms);
	oxc_json_u64(j, "cpu_sampled_ms", r->covered_ms);
	oxc_json_cstr(j, "cpu_sampled", covers_name(r));
	oxc_json_f64(j, "hz_per_cpu_second", covered_hz(r), 2);
	oxc_json_u64(j, "window_since_ms", r->since_ms);
	oxc_json_u64(j, "window_until_ms", r->until_ms);
	oxc_json_arr(j, "rows");
	for (uint32_t i = 0; i < r->nrows; i++)
		json_row(j, r, &r->rows[i]);
	oxc_json_end(j, ']');
	oxc_json_end(j, '}');
}

void oxc_report_json(const struct oxc_report *r, FILE *f)
{
	struct oxc_json j;
	oxc_json_init(&j, f);
	oxc_report_json_write(&j, NULL, r);
	oxc_json_finish(&j);
}

void oxc_report_folded(const struct oxc_report *r, FILE *f)
{
	for (uint32_t i = 0; i < r->nrows; i++) {
		const struct oxc_row *w = &r->rows[i];
		/* A newline inside a name would split the line for the tools. */
		for (const char *p = w->name; *p; p++)
			fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
		fprintf(f, " %llu\n", (unsigned long long)w->self);
	}
}

/* ---- file formats ---- */

static int write_json(const struct oxc_report *r, FILE *f)
{
	oxc_report_json(r, f);
	return 0;
}

static int write_folded(const struct oxc_report *r, FILE *f)
{
	oxc_report_folded(r, f);
	return 0;
}

/* The one place a file format meets its writer.  own_queries: the writer
 * asks the daemon itself, for more than one report holds (pprof.c: the
 * frames; flame.c: stacks, modules, processes and status), so write is
 * NULL here and query and record call it directly. */
static const struct {
	int by;
	int (*write)(const struct oxc_report *r, FILE *f);
	int own_queries;
} file_formats[] = {
	[OXC_FMT_JSON] = { OXP_BY_FUNCTION, write_json, 0 },
	[OXC_FMT_FOLDED] = { OXP_BY_STACK, write_folded, 0 },
	[OXC_FMT_PPROF] = { OXP_BY_FRAMES, NULL, 1 },
	[OXC_FMT_HTML] = { OXP_BY_STACK, NULL, 1 },
};
#define NFILE_FORMATS ((int)(sizeof(file_formats) / sizeof(file_formats[0])))

static int is_file_format(int format)
{
	return format > OXC_FMT_TABLE && format < NFILE_FORMATS;
}

int oxc_report_format_by(int format)
{
	return is_file_format(format) ? file_formats[format].by : OXP_BY_FUNCTION;
}

int oxc_report_format_built(int format)
{
	return is_file_format(format) &&
	       (file_formats[format].write != NULL || file_formats[format].own_queries);
}

int oxc_report_write(const struct oxc_report *r, int format, FILE *f)
{
	if (!is_file_format(format))
		return -EINVAL;
	if (!file_formats[format].write)
		return -ENOSYS;
	return file_formats[format].write(r, f);
}
