/* args.c - option parsing for every command; see args.h. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"

enum {
	OPT_SOCKET = 256, OPT_JSON, OPT_PID, OPT_EXE, OPT_THREAD, OPT_HZ,
	OPT_MODE, OPT_DEPTH, OPT_FORMAT, OPT_BY, OPT_SORT, OPT_LIMIT, OPT_WIDE,
	OPT_NO_DEMANGLE, OPT_TREE, OPT_ALL, OPT_SINCE, OPT_UNTIL,
};

/* Which group each option belongs to; 0 = global. */
static const struct {
	struct option opt;
	unsigned set;
} options[] = {
	{ { "socket", required_argument, NULL, OPT_SOCKET }, 0 },
	{ { "json", no_argument, NULL, OPT_JSON }, 0 },
	{ { "help", no_argument, NULL, 'h' }, 0 },
	{ { "version", no_argument, NULL, 'V' }, 0 },
	{ { "pid", required_argument, NULL, OPT_PID }, OXC_OPT_SELECT },
	{ { "exe", required_argument, NULL, OPT_EXE }, OXC_OPT_SELECT },
	{ { "tree", required_argument, NULL, OPT_TREE }, OXC_OPT_SELECT },
	{ { "all", no_argument, NULL, OPT_ALL }, OXC_OPT_ALL },
	{ { "thread", required_argument, NULL, OPT_THREAD }, OXC_OPT_THREAD },
	{ { "hz", required_argument, NULL, OPT_HZ }, OXC_OPT_RATE },
	{ { "mode", required_argument, NULL, OPT_MODE }, OXC_OPT_RATE },
	{ { "depth", required_argument, NULL, OPT_DEPTH }, OXC_OPT_RATE },
	{ { "format", required_argument, NULL, OPT_FORMAT }, OXC_OPT_QUERY | OXC_OPT_RECORD },
	{ { "by", required_argument, NULL, OPT_BY }, OXC_OPT_QUERY },
	{ { "sort", required_argument, NULL, OPT_SORT }, OXC_OPT_QUERY },
	{ { "limit", required_argument, NULL, OPT_LIMIT }, OXC_OPT_QUERY | OXC_OPT_RECORD },
	{ { "wide", no_argument, NULL, OPT_WIDE }, OXC_OPT_QUERY },
	{ { "output", required_argument, NULL, 'o' }, OXC_OPT_RECORD },
	{ { "no-demangle", no_argument, NULL, OPT_NO_DEMANGLE }, OXC_OPT_QUERY | OXC_OPT_RECORD },
	{ { "since", required_argument, NULL, OPT_SINCE }, OXC_OPT_WINDOW },
	{ { "until", required_argument, NULL, OPT_UNTIL }, OXC_OPT_WINDOW },
};
#define NOPTIONS (sizeof(options) / sizeof(options[0]))

static const char *const by_names[] = { "function", "module", "process", "exe", "thread", "stack" };
static const char *const sort_names[] = { "self", "total" };
static const char *const mode_names[] = { "cpu", "wall" };
static const char *const format_names[] = { "table", "json", "folded", "pprof", "html" };

#define NAME_OF(tbl, i) ((i) >= 0 && (size_t)(i) < sizeof(tbl) / sizeof(tbl[0]) ? tbl[i] : "?")
const char *oxc_by_name(int by) { return NAME_OF(by_names, by); }
const char *oxc_sort_name(int sort) { return NAME_OF(sort_names, sort); }
const char *oxc_mode_name(int mode) { return NAME_OF(mode_names, mode); }
const char *oxc_format_name(int format) { return NAME_OF(format_names, format); }

void oxc_opts_init(struct oxc_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = -1;
	o->format = OXC_FMT_UNSET;
	o->by = OXP_BY_FUNCTION;
	o->sort = OXP_SORT_SELF;
	o->limit = -1;
}

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A decimal integer in [lo, hi], nothing else. */
static int parse_num(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_enum(const char *s, const char *const *names, int n, int *out)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	return -EINVAL;
}
#define PARSE_ENUM(s, tbl, out) parse_enum(s, tbl, (int)(sizeof(tbl) / sizeof(tbl[0])), out)

static int add_pid(struct oxc_opts *o, const char *s, char *err, size_t len)
{
	long v;
	if (parse_num(s, 1, INT32_MAX, &v) < 0)
		return fail(err, len, "--pid %s: not a process id", s);
	if (o->npids == OXP_MAX_PIDS)
		return fail(err, len, "--pid: at most %d pids", OXP_MAX_PIDS);
	o->pids[o->npids++] = (int32_t)v;
	return 0;
}

/* "1h30m", "90s", "90": a duration in ms; 0 or -EINVAL. */
static int parse_duration(const char *s, uint64_t *out)
{
	uint64_t ms = 0;
	if (!*s)
		return -EINVAL;
	while (*s) {
		char *end;
		errno = 0;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned long long n = strtoull(s, &end, 10);
		uint64_t unit;
		switch (*end) {
		case 0: case 's': unit = 1000; break;
		case 'm': unit = 60000; break;
		case 'h': unit = 3600000; break;
		case 'd': unit = 86400000; break;
		default: return -EINVAL;
		}
		if (errno || n > UINT64_MAX / unit / 2 || ms + n * unit < ms)
			return -EINVAL;
		ms += n * unit;
		s = *end ? end + 1 : end;
	}
	*out = ms;
	return 0;
}

/* "HH:MM[:SS]" at s; returns the rest, or NULL. */
static const char *parse_clock(const char *s, struct tm *tm)
{
	int h, m, sec = 0, n = 0;
	if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2)
		return NULL;
	s += n;
	if (*s == ':') {
		if (sscanf(s, ":%2d%n", &sec, &n) != 1)
			return NULL;
		s += n;
	}
	if (h > 23 || m > 59 || sec > 60 || h < 0 || m < 0 || sec < 0)
		return NULL;
	tm->tm_hour = h;
	tm->tm_min = m;
	tm->tm_sec = sec;
	return s;
}

int oxc_parse_when(const char *s, uint64_t now_ms, uint64_t *out)
{
	uint64_t d;
	if (parse_duration(s, &d) == 0) {
		if (d > now_ms)
			return -EINVAL;
		*out = now_ms - d;
		return 0;
	}
	time_t now = (time_t)(now_ms / 1000);
	struct tm tm;
	localtime_r(&now, &tm);
	int dated = 0, y, mo, dd, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &dd, &n) == 3 && (s[n] == 'T' || s[n] == ' ')) {
		if (mo < 1 || mo > 12 || dd < 1 || dd > 31 || y < 1970)
			return -EINVAL;
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = dd;
		s += n + 1;
		dated = 1;
	}
	s = parse_clock(s, &tm);
	if (!s || *s)
		return -EINVAL;
	tm.tm_isdst = -1;
	time_t t = mktime(&tm);
	if (t == (time_t)-1 || t < 0)
		return -EINVAL;
	if (!dated && t > now) {
		tm.tm_mday--; /* a clock time still to come today: yesterday's */
		tm.tm_isdst = -1;
		t = mktime(&tm);
	}
	*out = (uint64_t)t * 1000;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Apply one option with its argument; 0 or -EINVAL. */
static int apply(struct oxc_opts *o, int c, const char *a, char *err, size_t len)
{
	long v;
	switch (c) {
	case OPT_SOCKET: o->socket = a; return 0;
	case OPT_JSON: o->json = 1; return 0;
	case 'h': o->help = 1; return 0;
	case 'V': o->version = 1; return 0;
	case OPT_PID: return add_pid(o, a, err, len);
	case OPT_EXE: o->exe = a; return 0;
	case OPT_TREE:
		if (parse_num(a, 1, INT32_MAX, &v) < 0)
			return fail(err, len, "--tree %s: not a process id", a);
		o->tree = (int32_t)v;
		return 0;
	case OPT_ALL: o->all = 1; return 0;
	case OPT_THREAD: o->thread = a; return 0;
	case OPT_WIDE: o->wide = 1; return 0;
	case OPT_NO_DEMANGLE: o->no_demangle = 1; return 0;
	case 'o': o->output = a; return 0;
	case OPT_SINCE:
	case OPT_UNTIL: {
		uint64_t t;
		if (oxc_parse_when(a, now_ms(), &t) < 0)
			return fail(err, len, "--%s %s: use a duration before now (30s, 5m, 2h, "
				    "1d) or a local time (14:00, 14:00:30, 2026-12-01T14:00)",
				    c == OPT_SINCE ? "since" : "until", a);
		*(c == OPT_SINCE ? &o->since_ms : &o->until_ms) = t ? t : 1;
		*(c == OPT_SINCE ? &o->since : &o->until) = a;
		return 0;
	}
	case OPT_HZ:
		if (parse_num(a, 1, OXP_MAX_HZ, &v) < 0)
			return fail(err, len, "--hz %s: use a rate from 1 to %d", a, OXP_MAX_HZ);
		o->hz = (uint32_t)v;
		return 0;
	case OPT_DEPTH:
		if (parse_num(a, 1, OXP_MAX_DEPTH, &v) < 0)
			return fail(err, len, "--depth %s: use a depth from 1 to %d", a, OXP_MAX_DEPTH);
		o->depth = (uint32_t)v;
		return 0;
	case OPT_LIMIT:
		if (parse_num(a, 0, UINT32_MAX, &v) < 0)
			return fail(err, len, "--limit %s: use a number of rows (0 = all)", a);
		o->limit = v;
		return 0;
	case OPT_MODE:
		return PARSE_ENUM(a, mode_names, &o->mode) < 0 ?
			fail(err, len, "--mode %s: use cpu or wall", a) : 0;
	case OPT_FORMAT:
		return PARSE_ENUM(a, format_names, &o->format) < 0 ?
			fail(err, len, "--format %s: use table, json, folded, pprof or html", a) : 0;
	case OPT_BY:
		return PARSE_ENUM(a, by_names, &o->by) < 0 ?
			fail(err, len, "--by %s: use function, module, process, exe, thread or stack", a) : 0;
	case OPT_SORT:
		return PARSE_ENUM(a, sort_names, &o->sort) < 0 ?
			fail(err, len, "--sort %s: use self or total", a) : 0;
	}
	return fail(err, len, "internal: unhandled option %d", c);
}

static unsigned set_of(int c)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].opt.val == c)
			return options[i].set;
	return 0;
}

static const char *name_of(int c)
{
	for (size_t i = 0; i < NOPTIONS; i++)
		if (options[i].opt.val == c)
			return options[i].opt.name;
	return "?";
}

/* Run getopt_long over argv[0..argc) accepting the options in optset. */
static int run_getopt(int argc, char **argv, unsigned optset, struct oxc_opts *o,
		      char *err, size_t len)
{
	struct option longopts[NOPTIONS + 1];
	for (size_t i = 0; i < NOPTIONS; i++)
		longopts[i] = options[i].opt;
	memset(&longopts[NOPTIONS], 0, sizeof(longopts[0]));
	/* "+": stop at the first positional, so a command's own options (or
	 * record's CMD arguments) are never taken for ours. */
	const char *shortopts = (optset & OXC_OPT_RECORD) ? "+:hVo:" : "+:hV";
	opterr = 0;
	optind = 0; /* 0 makes glibc reinitialise between parses */
	int c;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == '?')
			return fail(err, len, "unknown option %s", argv[optind - 1]);
		if (c == ':')
			return fail(err, len, "option %s needs a value", argv[optind - 1]);
		unsigned s = set_of(c);
		if (s && !(s & optset))
			return fail(err, len, "option --%s does not apply here", name_of(c));
		int r = apply(o, c, optarg, err, len);
		if (r < 0)
			return r;
	}
	return optind;
}

int oxc_args_global(int argc, char **argv, struct oxc_opts *o, char *err, size_t errlen)
{
	return run_getopt(argc, argv, 0, o, err, errlen);
}

int oxc_args_parse(int argc, char **argv, unsigned optset, struct oxc_opts *o,
		   char *err, size_t errlen)
{
	int i = run_getopt(argc, argv, optset, o, err, errlen);
	if (i < 0)
		return i;
	o->argc = argc - i;
	o->argv = argv + i;
	return 0;
}
