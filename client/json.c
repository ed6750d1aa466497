/* json.c - the streaming JSON writer and string escaping; see json.h. */
#include <math.h>
#include <string.h>

#include "json.h"
#include "utf8.h"

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

void oxc_json_escape(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = oxc_u8seq(p + i, len - i);
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
