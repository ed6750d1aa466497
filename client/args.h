/*
 * args.h - the one option parser every oxprofctl command uses.
 *
 * A command declares which option groups it accepts (enum oxc_optset); the
 * global options (--socket, --json, -h/--help) are accepted everywhere, before
 * or after the command name, so `oxprofctl status --json` and
 * `oxprofctl --json status` mean the same.
 */
#ifndef OXC_ARGS_H
#define OXC_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "oxp/oxp.h"

enum oxc_optset {
	OXC_OPT_SELECT = 1u << 0, /* --pid PID (repeatable), --exe NAME, --tree PID */
	OXC_OPT_THREAD = 1u << 1, /* --thread TID|NAME (queries) */
	OXC_OPT_RATE = 1u << 2,   /* --hz N, --mode cpu|wall, --depth N */
	OXC_OPT_QUERY = 1u << 3,  /* --format, --by, --sort, --limit, --wide */
	OXC_OPT_RECORD = 1u << 4, /* -o FILE, --format, --limit */
	OXC_OPT_ALL = 1u << 5,    /* --all (status: exited agents too) */
	OXC_OPT_WINDOW = 1u << 6, /* --since WHEN, --until WHEN (queries) */
};

/* Output formats.  Which writer makes each file format, and which query it
 * needs, is one table in report.c (oxc_report_write). */
enum oxc_format {
	OXC_FMT_UNSET = -1,
	OXC_FMT_TABLE,
	OXC_FMT_JSON,
	OXC_FMT_FOLDED,
	OXC_FMT_PPROF,          /* gzipped profile.proto (go tool pprof) */
	OXC_FMT_HTML,           /* a self-contained flame graph page */
};

struct oxc_opts {
	/* global */
	const char *socket;     /* --socket, or NULL: OXPROF_SOCKET, the path rule */
	int json;               /* --json */
	int help;               /* -h/--help */
	int version;            /* -V/--version */
	/* selectors */
	uint32_t npids;
	int32_t pids[OXP_MAX_PIDS];
	const char *exe;
	int32_t tree;           /* --tree PID: it and its descendants; 0 none */
	const char *thread;
	/* rate: 0 / -1 mean "not given" (keep the daemon's value) */
	uint32_t hz;
	int mode;               /* -1, OXP_MODE_CPU or OXP_MODE_WALL */
	uint32_t depth;
	/* query and record output */
	int format;             /* enum oxc_format */
	int by;                 /* enum oxp_by */
	int sort;               /* enum oxp_sort */
	long limit;             /* -1 not given; 0 unlimited */
	int wide;
	int no_demangle;        /* --no-demangle: names as the agent reported */
	int all;                /* status --all */
	const char *output;     /* record -o FILE */
	/* --since/--until: Unix ms, 0 = not given (open); the words typed */
	uint64_t since_ms, until_ms;
	const char *since, *until;
	/* positional arguments after the options (pointers into argv) */
	int argc;
	char **argv;
};

void oxc_opts_init(struct oxc_opts *o);

/*
 * Parse the global options in front of the command name.  Returns the index
 * of the command name in argv (argc when there is none), or -EINVAL with a
 * one-line message in err.
 */
int oxc_args_global(int argc, char **argv, struct oxc_opts *o, char *err, size_t errlen);

/*
 * Parse a command's arguments: argv[0] is the command name.  Options not in
 * optset are refused.  Parsing stops at "--" or at the first positional
 * argument (so `record CMD -x` leaves -x to CMD); o->argc/argv are the rest.
 * 0, or -EINVAL with a one-line message in err.
 */
int oxc_args_parse(int argc, char **argv, unsigned optset, struct oxc_opts *o,
		   char *err, size_t errlen);

/*
 * A point in time as --since/--until take it, into Unix ms: a duration
 * before now ("30s", "5m", "2h", "1d", "90" seconds; units may combine,
 * "1h30m"), or a local time: "14:00", "14:00:30" (today; yesterday when
 * that is still to come), "2026-12-01T14:00[:30]" or with a space for
 * the T.  0 or -EINVAL.
 */
int oxc_parse_when(const char *s, uint64_t now_ms, uint64_t *out);

/* Names of enum values, for output and messages. */
const char *oxc_by_name(int by);
const char *oxc_sort_name(int sort);
const char *oxc_mode_name(int mode);
const char *oxc_format_name(int format);

#endif
