/* output.c - JSON, tables, number formatting, error lines; see output.h. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "xmalloc.h"

/* ---- JSON ---- */

void oxc_json_init(struct oxc_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

static void indent(struct oxc_json *j)
{
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

/* Comma, newline and indentation before a value, then "key": if any. */
static void member(struct oxc_json *j, const char *key)
{
	if (j->depth > 0) {
		if (!j->empty)
			fputc(',', j->f);
		indent(j);
	}
	j->empty = 0;
	if (key) {
		oxc_json_escape(j->f, key, strlen(key));
		fputs(": ", j->f);
	}
}

static void open_level(struct oxc_json *j, const char *key, char c)
{
	member(j, key);
	fputc(c, j->f);
	j->depth++;
	j->empty = 1;
}

void oxc_json_obj(struct oxc_json *j, const char *key) { open_level(j, key, '{'); }
void oxc_json_arr(struct oxc_json *j, const char *key) { open_level(j, key, '['); }

void oxc_json_end(struct oxc_json *j, char close)
{
	int had = !j->empty;
	j->depth--;
	if (had)
		indent(j);
	fputc(close, j->f);
	j->empty = 0; /* the container just closed is a member of its parent */
}

void oxc_json_finish(struct oxc_json *j)
{
	fputc('\n', j->f);
	fflush(j->f);
}

void oxc_json_str(struct oxc_json *j, const char *key, const char *s, size_t len)
{
	member(j, key);
	oxc_json_escape(j->f, s, len);
}

void oxc_json_cstr(struct oxc_json *j, const char *key, const char *s)
{
	if (!s) {
		member(j, key);
		fputs("null", j->f);
		return;
	}
	oxc_json_str(j, key, s, strlen(s));
}

void oxc_json_u64(struct oxc_json *j, const char *key, uint64_t v)
{
	member(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void oxc_json_i64(struct oxc_json *j, const char *key, int64_t v)
{
	member(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void oxc_json_f64(struct oxc_json *j, const char *key, double v, int decimals)
{
	member(j, key);
	/* JSON has no NaN or infinity. */
	if (!isfinite(v))
		fputs("null", j->f);
	else
		fprintf(j->f, "%.*f", decimals, v);
}

void oxc_json_bool(struct oxc_json *j, const char *key, int v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t u8seq(const unsigned char *s, size_t left)
{
	unsigned char c = s[0];
	size_t n;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and values past U+10FFFF are invalid. */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

void oxc_json_escape(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = u8seq(p + i, len - i);
		if (n == 0) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		if (n > 1) {
			fwrite(p + i, 1, n, f);
		} else if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else {
			fputc(c, f);
		}
		i += n;
	}
	fputc('"', f);
}

/* ---- tables ---- */

struct oxc_table {
	int ncols;
	char align[16];
	char **titles;
	size_t nrows, cap;
	char **cells; /* nrows * ncols */
};

struct oxc_table *oxc_table_new(int ncols, const char *const *titles, const char *align)
{
	struct oxc_table *t = oxc_xcalloc(1, sizeof(*t));
	t->ncols = ncols < 16 ? ncols : 15;
	t->titles = oxc_xcalloc((size_t)t->ncols, sizeof(char *));
	for (int i = 0; i < t->ncols; i++) {
		t->titles[i] = oxc_xstrdup(titles[i]);
		t->align[i] = align[i] == 'r' ? 'r' : 'l';
	}
	return t;
}

void oxc_table_free(struct oxc_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	for (int i = 0; i < t->ncols; i++)
		free(t->titles[i]);
	free(t->cells);
	free(t->titles);
	free(t);
}

void oxc_table_add(struct oxc_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->cells = oxc_xrealloc(t->cells, t->cap * (size_t)t->ncols * sizeof(char *));
	}
	for (int i = 0; i < t->ncols; i++) {
		char *c = oxc_xstrdup(cells[i] ? cells[i] : "");
		/* A newline or escape in a name (an exe path can hold anything)
		 * must not break the layout or drive the terminal. */
		for (char *p = c; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = c;
	}
	t->nrows++;
}

size_t oxc_u8width(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Narrowest a left-aligned column may become when the table must shrink. */
#define MIN_FLEX 12
#define GAP 2

/* Shrink the widest shrinkable column, one column at a time, until the
 * table fits width or nothing can shrink any more. */
static void fit(const struct oxc_table *t, size_t *w, int width)
{
	size_t sum = 0;
	for (int i = 0; i < t->ncols; i++)
		sum += w[i] + (i ? GAP : 0);
	while (width > 0 && sum > (size_t)width) {
		int best = -1;
		for (int i = 0; i < t->ncols; i++)
			if (t->align[i] == 'l' && w[i] > MIN_FLEX && (best < 0 || w[i] > w[best]))
				best = i;
		if (best < 0)
			return;
		w[best]--;
		sum--;
	}
}

/* Write s padded or truncated to exactly w columns (no padding if last). */
static void cell(FILE *f, const char *s, size_t w, char align, int last)
{
	size_t sw = oxc_u8width(s);
	if (sw > w) {
		/* Cut at a code point boundary, leaving room for "...". */
		size_t keep = w > 3 ? w - 3 : 0, cols = 0;
		const char *p = s;
		while (*p && cols < keep) {
			p++;
			while (((unsigned char)*p & 0xc0) == 0x80)
				p++;
			cols++;
		}
		fwrite(s, 1, (size_t)(p - s), f);
		fputs(&"..."[3 - (w - cols < 3 ? w - cols : 3)], f);
		return;
	}
	if (align == 'r')
		fprintf(f, "%*s%s", (int)(w - sw), "", s);
	else if (last)
		fputs(s, f);
	else
		fprintf(f, "%s%*s", s, (int)(w - sw), "");
}

static void line(FILE *f, const struct oxc_table *t, char *const *cells, const size_t *w,
		 int bold)
{
	if (bold)
		fputs("\033[1m", f);
	for (int i = 0; i < t->ncols; i++) {
		if (i)
			fprintf(f, "%*s", GAP, "");
		cell(f, cells[i], w[i], t->align[i], i == t->ncols - 1);
	}
	fputs(bold ? "\033[0m\n" : "\n", f);
}

void oxc_table_print(const struct oxc_table *t, FILE *f, int width, int bold)
{
	size_t w[16] = { 0 };
	for (int i = 0; i < t->ncols; i++) {
		w[i] = oxc_u8width(t->titles[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t cw = oxc_u8width(t->cells[r * (size_t)t->ncols + (size_t)i]);
			if (cw > w[i])
				w[i] = cw;
		}
	}
	fit(t, w, width);
	line(f, t, t->titles, w, bold);
	for (size_t r = 0; r < t->nrows; r++)
		line(f, t, &t->cells[r * (size_t)t->ncols], w, 0);
}

int oxc_out_width(FILE *f, int wide)
{
	int fd = fileno(f);
	if (wide || fd < 0 || !isatty(fd))
		return 0;
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	int n = c ? atoi(c) : 0;
	return n > 0 ? n : 80;
}

int oxc_out_color(FILE *f)
{
	int fd = fileno(f);
	const char *term = getenv("TERM");
	const char *no = getenv("NO_COLOR");
	return fd >= 0 && isatty(fd) && !(no && *no) && !(term && !strcmp(term, "dumb"));
}

/* ---- numbers ---- */

void oxc_fmt_pct(char *buf, size_t len, uint64_t part, uint64_t whole)
{
	double p = whole ? 100.0 * (double)part / (double)whole : 0.0;
	snprintf(buf, len, "%.1f%%", p);
}

void oxc_fmt_duration(char *buf, size_t len, uint64_t ms)
{
	uint64_t s = ms / 1000;
	if (ms < 1000)
		snprintf(buf, len, "%llu ms", (unsigned long long)ms);
	else if (s < 60)
		snprintf(buf, len, "%.1f s", (double)ms / 1000.0);
	else if (s < 3600)
		snprintf(buf, len, "%llum %02llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else if (s < 86400)
		snprintf(buf, len, "%lluh %02llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s / 60 % 60));
	else
		snprintf(buf, len, "%llud %02lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s / 3600 % 24));
}

void oxc_fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	if (bytes < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
		return;
	}
	double v = (double)bytes / 1024.0;
	int u = 0;
	while (v >= 1024.0 && u < 3) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, units[u]);
}

void oxc_fmt_time(char *buf, size_t len, uint64_t unix_ms)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "?");
}

/* ---- errors ---- */

int oxc_fail(int json, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "oxprofctl: %s\n", msg);
	if (json) {
		struct oxc_json j;
		oxc_json_init(&j, stdout);
		oxc_json_obj(&j, NULL);
		oxc_json_obj(&j, "error");
		oxc_json_i64(&j, "code", code);
		oxc_json_cstr(&j, "message", msg);
		oxc_json_end(&j, '}');
		oxc_json_end(&j, '}');
		oxc_json_finish(&j);
	}
	return 1;
}
