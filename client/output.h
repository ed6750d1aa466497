/*
 * output.h - what oxprofctl writes: JSON documents, aligned text tables,
 * human-readable numbers, and error lines.
 *
 * Everything writes to a caller-supplied FILE; nothing here talks to the
 * daemon.  Strings from the daemon are counted (struct oxp_str), not
 * NUL-terminated, so the writers take a length.
 */
#ifndef OXC_OUTPUT_H
#define OXC_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

/*
 * A streaming JSON writer with two-space indentation.  Inside an object,
 * pass the member name as key; inside an array (or at the top), pass NULL.
 * The caller nests begin/end correctly; the writer tracks commas only.
 * Only the innermost open container's emptiness matters for the next comma
 * (an outer one is never empty while an inner one is open), so one flag
 * serves any depth.
 */
struct oxc_json {
	FILE *f;
	int depth;
	int empty; /* the innermost open container has no member yet */
};

void oxc_json_init(struct oxc_json *j, FILE *f);
void oxc_json_obj(struct oxc_json *j, const char *key);
void oxc_json_arr(struct oxc_json *j, const char *key);
void oxc_json_end(struct oxc_json *j, char close); /* '}' or ']' */
/* Ends the document with a newline. */
void oxc_json_finish(struct oxc_json *j);
void oxc_json_str(struct oxc_json *j, const char *key, const char *s, size_t len);
void oxc_json_cstr(struct oxc_json *j, const char *key, const char *s); /* NULL -> null */
void oxc_json_u64(struct oxc_json *j, const char *key, uint64_t v);
void oxc_json_i64(struct oxc_json *j, const char *key, int64_t v);
void oxc_json_f64(struct oxc_json *j, const char *key, double v, int decimals);
void oxc_json_bool(struct oxc_json *j, const char *key, int v);

/*
 * Write s as a JSON string literal, quotes included: escapes '"', '\\' and
 * control characters, and replaces bytes that are not valid UTF-8 with
 * U+FFFD so the document always parses.
 */
void oxc_json_escape(FILE *f, const char *s, size_t len);

/*
 * A text table: cells are copied in, widths computed at print time.  align
 * has one letter per column, 'l' or 'r'.  Left-aligned columns may be
 * truncated (with "...") to fit a width; numbers never are.
 */
struct oxc_table;

struct oxc_table *oxc_table_new(int ncols, const char *const *titles, const char *align);
void oxc_table_free(struct oxc_table *t);
void oxc_table_add(struct oxc_table *t, const char *const *cells);
/* width 0: no limit.  bold: embolden the header (terminals only). */
void oxc_table_print(const struct oxc_table *t, FILE *f, int width, int bold);

/* Display width of a UTF-8 string: one column per code point. */
size_t oxc_u8width(const char *s);

/*
 * Columns to fit a table in when writing to f: 0 (no limit) when wide is
 * set or f is not a terminal, else the terminal's width (TIOCGWINSZ, then
 * $COLUMNS, then 80).
 */
int oxc_out_width(FILE *f, int wide);
/* Whether to use bold/colour on f: a terminal, NO_COLOR unset, TERM not dumb. */
int oxc_out_color(FILE *f);

/* "12.3%", share of whole (0 when whole is 0). */
void oxc_fmt_pct(char *buf, size_t len, uint64_t part, uint64_t whole);
/* "850 ms", "12.3 s", "4m 05s", "2h 03m", "3d 04h". */
void oxc_fmt_duration(char *buf, size_t len, uint64_t ms);
/* "512 B", "1.5 KiB", "12.0 MiB". */
void oxc_fmt_bytes(char *buf, size_t len, uint64_t bytes);
/* Local time of Unix ms: "2025-11-24 16:53:01". */
void oxc_fmt_time(char *buf, size_t len, uint64_t unix_ms);

/*
 * Report a failure: "oxprofctl: MSG" on stderr and, when json is set, the
 * document {"error": {"code": code, "message": MSG}} on stdout, so scripts
 * always get one JSON document.  Returns 1, the failure exit code.
 */
int oxc_fail(int json, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
