/*
 * json.h - what oxprofctl writes for --json: a streaming writer (no
 * document is held in memory: a query's rows go out as they arrive) and
 * string escaping that turns any bytes into valid JSON text.
 *
 * Strings from the daemon are counted (struct oxp_str), not NUL-terminated,
 * so the writers take a length.
 */
#ifndef OXC_JSON_H
#define OXC_JSON_H

#include <stddef.h>
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

#endif
