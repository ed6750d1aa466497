/*
 * test-client-unit.c - oxprofctl without a daemon: option parsing, the JSON
 * writer and its string escaping, table alignment and truncation, the
 * report formats (table, JSON, folded), number formatting.
 */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "format.h"
#include "json.h"
#include "report.h"
#include "table.h"
#include "task.h"
#include "utf8.h"

/* Parse a command line given as a NULL-terminated list; returns the
 * parser's result, the error text in err. */
static int parse(struct oxc_opts *o, unsigned set, char *err, const char **words)
{
	static char *argv[64];
	int argc = 0;
	while (words[argc]) {
		argv[argc] = (char *)words[argc];
		argc++;
	}
	argv[argc] = NULL;
	oxc_opts_init(o);
	err[0] = '\0';
	return oxc_args_parse(argc, argv, set, o, err, 256);
}
#define PARSE(o, set, err, ...) parse(o, set, err, (const char *[]){ __VA_ARGS__, NULL })

static struct oxc_opts o;

TEST(client_args_query)
{
	char err[256];
	unsigned set = OXC_OPT_SELECT | OXC_OPT_THREAD | OXC_OPT_QUERY;
	ASSERT_EQ(PARSE(&o, set, err, "query", "--by", "thread", "--sort", "total", "--limit", "7",
			"--pid", "5", "--pid", "6", "--exe", "x", "--thread", "w", "--wide",
			"--json", "--socket", "/s", "--format", "folded"), 0);
	ASSERT_EQ(o.by, OXP_BY_THREAD);
	ASSERT_EQ(o.sort, OXP_SORT_TOTAL);
	ASSERT_EQ(o.limit, 7);
	ASSERT_EQ(o.npids, 2);
	ASSERT_EQ(o.pids[0], 5);
	ASSERT_EQ(o.pids[1], 6);
	ASSERT_STREQ(o.exe, "x");
	ASSERT_STREQ(o.thread, "w");
	ASSERT_STREQ(o.socket, "/s");
	ASSERT_EQ(o.wide, 1);
	ASSERT_EQ(o.json, 1);
	ASSERT_EQ(o.format, OXC_FMT_FOLDED);
	ASSERT_EQ(o.argc, 0);
	/* Defaults. */
	ASSERT_EQ(PARSE(&o, set, err, "query"), 0);
	ASSERT_EQ(o.by, OXP_BY_FUNCTION);
	ASSERT_EQ(o.sort, OXP_SORT_SELF);
	ASSERT_EQ(o.limit, -1);
	ASSERT_EQ(o.format, OXC_FMT_UNSET);
	ASSERT_EQ(o.mode, -1);
}

TEST(client_args_rejects)
{
	char err[256];
	unsigned set = OXC_OPT_SELECT | OXC_OPT_RATE;
	ASSERT(PARSE(&o, set, err, "start", "--hz", "0") < 0);
	ASSERT(strstr(err, "--hz 0"));
	ASSERT(PARSE(&o, set, err, "start", "--hz", "100001") < 0);
	ASSERT(PARSE(&o, set, err, "start", "--hz", "12x") < 0);
	ASSERT(PARSE(&o, set, err, "start", "--depth", "513") < 0);
	ASSERT(PARSE(&o, set, err, "start", "--mode", "gpu") < 0);
	ASSERT(strstr(err, "cpu or wall"));
	ASSERT(PARSE(&o, set, err, "start", "--pid", "-3") < 0);
	ASSERT(PARSE(&o, set, err, "start", "--pid") < 0);
	ASSERT(strstr(err, "needs a value"));
	ASSERT(PARSE(&o, set, err, "start", "--frobnicate") < 0);
	ASSERT(strstr(err, "unknown option --frobnicate"));
	ASSERT(PARSE(&o, set, err, "start", "-x") < 0);
	/* An option of another command. */
	ASSERT(PARSE(&o, set, err, "start", "--by", "stack") < 0);
	ASSERT(strstr(err, "--by does not apply"));
	ASSERT(PARSE(&o, OXC_OPT_QUERY, err, "query", "--by", "colour") < 0);
	ASSERT(PARSE(&o, OXC_OPT_QUERY, err, "query", "--limit", "-1") < 0);
	/* Valid edges. */
	ASSERT_EQ(PARSE(&o, set, err, "start", "--hz", "20000", "--depth", "256", "--mode", "wall"), 0);
	ASSERT_EQ(o.hz, OXP_MAX_HZ);
	ASSERT_EQ(o.depth, OXP_MAX_DEPTH);
	ASSERT_EQ(o.mode, OXP_MODE_WALL);
	/* One past the one set of limits (oxp/protocol.h). */
	ASSERT(PARSE(&o, set, err, "start", "--hz", "20001") < 0);
	ASSERT(strstr(err, "from 1 to 20000"));
	ASSERT(PARSE(&o, set, err, "start", "--depth", "257") < 0);
}

TEST(client_args_record_stops_at_command)
{
	char err[256];
	unsigned set = OXC_OPT_RATE | OXC_OPT_RECORD;
	ASSERT_EQ(PARSE(&o, set, err, "record", "--hz", "500", "-o", "f.json", "--", "prog",
			"-o", "x", "--hz"), 0);
	ASSERT_EQ(o.hz, 500);
	ASSERT_STREQ(o.output, "f.json");
	ASSERT_EQ(o.argc, 4);
	ASSERT_STREQ(o.argv[0], "prog");
	ASSERT_STREQ(o.argv[1], "-o");
	/* Without "--", the first word that is not an option is the program. */
	ASSERT_EQ(PARSE(&o, set, err, "record", "prog", "--hz", "3"), 0);
	ASSERT_EQ(o.hz, 0);
	ASSERT_EQ(o.argc, 3);
	ASSERT_STREQ(o.argv[2], "3");
}

TEST(client_args_global)
{
	char err[256];
	char *argv[] = { "oxprofctl", "--socket", "/x", "--json", "status", "--json", NULL };
	oxc_opts_init(&o);
	ASSERT_EQ(oxc_args_global(6, argv, &o, err, sizeof(err)), 4);
	ASSERT_STREQ(o.socket, "/x");
	ASSERT_EQ(o.json, 1);
	char *bad[] = { "oxprofctl", "--pid", "3", "status", NULL };
	oxc_opts_init(&o);
	ASSERT(oxc_args_global(4, bad, &o, err, sizeof(err)) < 0);
}

/* Run fn writing to a memory stream; returns the text (caller frees). */
static char *capture(void (*fn)(FILE *, void *), void *arg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ASSERT(f);
	fn(f, arg);
	fclose(f);
	return buf;
}

static void escape_fn(FILE *f, void *arg)
{
	const char *s = arg;
	oxc_json_escape(f, s, strlen(s));
}

static void check_escape(const char *in, const char *want)
{
	char *got = capture(escape_fn, (void *)in);
	ASSERT_STREQ(got, want);
	free(got);
}

TEST(client_json_escape)
{
	check_escape("plain", "\"plain\"");
	check_escape("a\"b\\c", "\"a\\\"b\\\\c\"");
	check_escape("l1\nl2\tx\r", "\"l1\\nl2\\tx\\r\"");
	check_escape("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\xa5\"");
	/* Invalid UTF-8: a stray continuation, a truncated sequence, an
	 * overlong encoding, a surrogate. */
	check_escape("a\x80z", "\"a\\ufffdz\"");
	check_escape("a\xe2\x82", "\"a\\ufffd\\ufffd\"");
	check_escape("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	check_escape("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	check_escape("operator<<(std::ostream&, char const*)",
		     "\"operator<<(std::ostream&, char const*)\"");
}

static void json_fn(FILE *f, void *arg)
{
	(void)arg;
	struct oxc_json j;
	oxc_json_init(&j, f);
	oxc_json_obj(&j, NULL);
	oxc_json_cstr(&j, "s", "x");
	oxc_json_u64(&j, "n", 18446744073709551615ull);
	oxc_json_i64(&j, "i", -5);
	oxc_json_f64(&j, "f", 1.0 / 0.0, 1);
	oxc_json_bool(&j, "b", 0);
	oxc_json_cstr(&j, "z", NULL);
	oxc_json_arr(&j, "a");
	oxc_json_u64(&j, NULL, 1);
	oxc_json_obj(&j, NULL);
	oxc_json_end(&j, '}');
	oxc_json_end(&j, ']');
	oxc_json_arr(&j, "e");
	oxc_json_end(&j, ']');
	oxc_json_end(&j, '}');
	oxc_json_finish(&j);
}

TEST(client_json_writer)
{
	char *got = capture(json_fn, NULL);
	ASSERT_STREQ(got, "{\n  \"s\": \"x\",\n  \"n\": 18446744073709551615,\n  \"i\": -5,\n"
			  "  \"f\": null,\n  \"b\": false,\n  \"z\": null,\n  \"a\": [\n    1,\n"
			  "    {}\n  ],\n  \"e\": []\n}\n");
	free(got);
}

/* Deeper than any document oxprofctl writes today, and deeper than the
 * writer's old 16-level comma table: the guard words after the writer catch
 * a write past it, the text catches a lost or doubled comma. */
#define DEEP 24
#define GUARD 0x5a5a5a5au

static struct {
	struct oxc_json j;
	unsigned guard[32];
} deep;

static void deep_fn(FILE *f, void *arg)
{
	(void)arg;
	for (size_t i = 0; i < sizeof(deep.guard) / sizeof(deep.guard[0]); i++)
		deep.guard[i] = GUARD;
	oxc_json_init(&deep.j, f);
	for (int i = 0; i < DEEP; i++) {
		oxc_json_arr(&deep.j, NULL);
		oxc_json_u64(&deep.j, NULL, (uint64_t)i);
	}
	for (int i = 0; i < DEEP; i++) {
		oxc_json_u64(&deep.j, NULL, 7);
		oxc_json_end(&deep.j, ']');
	}
	oxc_json_finish(&deep.j);
}

/* Append a newline and the indentation of depth d. */
static size_t nl(char *buf, size_t n, int d)
{
	buf[n++] = '\n';
	for (int i = 0; i < 2 * d; i++)
		buf[n++] = ' ';
	return n;
}

TEST(client_json_deep_nesting)
{
	char *got = capture(deep_fn, NULL);
	for (size_t i = 0; i < sizeof(deep.guard) / sizeof(deep.guard[0]); i++)
		ASSERT_MSG(deep.guard[i] == GUARD, "the JSON writer wrote past itself (word %zu)", i);
	/* Array i holds the number i, array i+1, then 7. */
	static char want[16384];
	size_t n = 0;
	for (int i = 0; i < DEEP; i++) {
		if (i) {
			want[n++] = ',';
			n = nl(want, n, i);
		}
		want[n++] = '[';
		n = nl(want, n, i + 1);
		n += (size_t)sprintf(want + n, "%d", i);
	}
	for (int i = DEEP - 1; i >= 0; i--) {
		want[n++] = ',';
		n = nl(want, n, i + 1);
		want[n++] = '7';
		n = nl(want, n, i);
		want[n++] = ']';
	}
	want[n++] = '\n';
	want[n] = '\0';
	ASSERT_STREQ(got, want);
	free(got);
}

struct table_arg {
	int width;
};

static void table_fn(FILE *f, void *arg)
{
	struct table_arg *a = arg;
	static const char *const titles[] = { "N", "NAME", "MODULE" };
	struct oxc_table *t = oxc_table_new(3, titles, "rll");
	oxc_table_add(t, (const char *const[]){ "1", "short", "m" });
	oxc_table_add(t, (const char *const[]){ "12345", "a_rather_long_function_name_here", "libfoo.so.1" });
	oxc_table_add(t, (const char *const[]){ "7", "caf\xc3\xa9", "x" });
	oxc_table_print(t, f, a->width, 0);
	oxc_table_free(t);
}

TEST(client_table_alignment)
{
	struct table_arg a = { 0 };
	char *got = capture(table_fn, &a);
	ASSERT_STREQ(got,
		     "    N  NAME                              MODULE\n"
		     "    1  short                             m\n"
		     "12345  a_rather_long_function_name_here  libfoo.so.1\n"
		     "    7  caf\xc3\xa9                              x\n");
	free(got);
	/* 40 columns: the widest text column gives way, numbers never. */
	a.width = 40;
	got = capture(table_fn, &a);
	ASSERT_STREQ(got,
		     "    N  NAME                  MODULE\n"
		     "    1  short                 m\n"
		     "12345  a_rather_long_fun...  libfoo.so.1\n"
		     "    7  caf\xc3\xa9                  x\n");
	for (char *line = strtok(got, "\n"); line; line = strtok(NULL, "\n"))
		ASSERT(oxc_u8width(line) <= 40);
	free(got);
}

static void fill(struct oxc_report *r)
{
	oxc_report_init(r, OXP_BY_FUNCTION, OXP_SORT_SELF);
	r->total = 1000;
	r->nprocs = 2;
	r->first_ms = 1700000000000ull;
	r->last_ms = 1700000012300ull;
	oxc_report_add(r, "leaf_a", 6, "/usr/bin/hotspots", 17, 0, 0, 600, 600);
	oxc_report_add(r, "leaf_b", 6, "/usr/bin/hotspots", 17, 0, 0, 300, 310);
	oxc_report_add(r, "main", 4, "/usr/bin/hotspots", 17, 0, 0, 0, 1000);
}

static void report_table_fn(FILE *f, void *arg)
{
	oxc_report_table(arg, f, 0, 0);
}

TEST(client_report_table)
{
	struct oxc_report r;
	fill(&r);
	char *got = capture(report_table_fn, &r);
	size_t head = strcspn(got, "\n");
	ASSERT(got[head] == '\n');
	ASSERT(strncmp(got, "1000 samples from 2 processes over 12.3 s", 41) == 0);
	ASSERT_STREQ(got + head + 1,
		     "SELF%  TOTAL%  SELF  TOTAL  FUNCTION  MODULE\n"
		     "60.0%   60.0%   600    600  leaf_a    hotspots\n"
		     "30.0%   31.0%   300    310  leaf_b    hotspots\n"
		     " 0.0%  100.0%     0   1000  main      hotspots\n");
	free(got);
	oxc_report_destroy(&r);
}

static void folded_fn(FILE *f, void *arg)
{
	oxc_report_folded(arg, f);
}

TEST(client_report_folded_merges)
{
	struct oxc_report r;
	oxc_report_init(&r, OXP_BY_STACK, OXP_SORT_SELF);
	r.total = 100;
	oxc_report_add(&r, "main;a;leaf", 11, "", 0, 0, 0, 40, 40);
	oxc_report_add(&r, "main;b", 6, "", 0, 0, 0, 35, 35);
	oxc_report_add(&r, "main;a;leaf", 11, "", 0, 0, 0, 20, 20);
	oxc_report_add(&r, "main;c\nx", 8, "", 0, 0, 0, 5, 5);
	oxc_report_merge(&r);
	char *got = capture(folded_fn, &r);
	ASSERT_STREQ(got, "main;a;leaf 60\nmain;b 35\nmain;c x 5\n");
	free(got);
	oxc_report_destroy(&r);
}

static void report_json_fn(FILE *f, void *arg)
{
	oxc_report_json(arg, f);
}

TEST(client_report_json)
{
	struct oxc_report r;
	fill(&r);
	char *got = capture(report_json_fn, &r);
	ASSERT(strstr(got, "\"by\": \"function\""));
	ASSERT(strstr(got, "\"total\": 1000"));
	ASSERT(strstr(got, "\"span_ms\": 12300"));
	ASSERT(strstr(got, "\"processes\": 2"));
	ASSERT(strstr(got, "\"name\": \"leaf_a\""));
	ASSERT(strstr(got, "\"module\": \"/usr/bin/hotspots\""));
	ASSERT(strstr(got, "\"self_pct\": 60.00"));
	ASSERT(strstr(got, "\"total_pct\": 31.00"));
	free(got);
	oxc_report_destroy(&r);
}

TEST(client_format_numbers)
{
	char b[32];
	oxc_fmt_duration(b, sizeof(b), 850);
	ASSERT_STREQ(b, "850 ms");
	oxc_fmt_duration(b, sizeof(b), 12345);
	ASSERT_STREQ(b, "12.3 s");
	oxc_fmt_duration(b, sizeof(b), 245000);
	ASSERT_STREQ(b, "4m 05s");
	oxc_fmt_duration(b, sizeof(b), 7380000);
	ASSERT_STREQ(b, "2h 03m");
	oxc_fmt_duration(b, sizeof(b), 273600000);
	ASSERT_STREQ(b, "3d 04h");
	oxc_fmt_bytes(b, sizeof(b), 512);
	ASSERT_STREQ(b, "512 B");
	oxc_fmt_bytes(b, sizeof(b), 1536);
	ASSERT_STREQ(b, "1.5 KiB");
	oxc_fmt_bytes(b, sizeof(b), 256u << 20);
	ASSERT_STREQ(b, "256.0 MiB");
	oxc_fmt_pct(b, sizeof(b), 1, 3);
	ASSERT_STREQ(b, "33.3%");
	oxc_fmt_pct(b, sizeof(b), 1, 0);
	ASSERT_STREQ(b, "0.0%");
	ASSERT_STREQ(oxc_report_basename("/lib/x/libc.so.6"), "libc.so.6");
	ASSERT_STREQ(oxc_report_basename("plain"), "plain");
}
