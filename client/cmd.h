/*
 * cmd.h - the subcommand interface.  A subcommand is one `const struct
 * oxc_cmd`, in cmd-<name>.c; commands that differ only in what they send
 * share a file and an exec, which tells them apart by `self` (cmd-fleet.c
 * holds start, stop, pause, unpause and reset).  main.c lists them all.
 */
#ifndef OXC_CMD_H
#define OXC_CMD_H

#include <stdio.h>

#include "args.h"

struct oxc_cmd {
	const char *name;
	const char *summary;    /* one line for `oxprofctl help` */
	const char *usage;      /* the synopsis and option list, for `help CMD` */
	unsigned opts;          /* enum oxc_optset: options it accepts */
	int min_args, max_args; /* positional arguments; max -1 = any */
	/*
	 * Run the command.  Returns the process exit code: 0 success, 1 a
	 * failure (already reported), 2 a usage error; `record` returns its
	 * program's status.  An exit code rather than -errno, because the
	 * command is the last thing that runs and record's code is the child's.
	 */
	int (*exec)(const struct oxc_cmd *self, const struct oxc_opts *o);
};

/*
 * Exit codes of every command (STYLE.md rule 21), and record's own: it
 * exits with its program's status when it made a profile, and with
 * OXC_EXIT_NOPROFILE when it could not (the message says why).
 */
enum {
	OXC_EXIT_OK = 0,
	OXC_EXIT_FAIL = 1,      /* a failure, a write error included */
	OXC_EXIT_USAGE = 2,
	OXC_EXIT_NOPROFILE = 3,
};

/* A limit from oxp/protocol.h as text, for the help strings. */
#define OXC_STR_(x) #x
#define OXC_STR(x) OXC_STR_(x)

/* The command table, NULL-terminated; defined in main.c. */
extern const struct oxc_cmd *const oxc_commands[];

/* Print the usage of cmd (or the command list when cmd is NULL) to f. */
void oxc_cmd_usage(const struct oxc_cmd *cmd, FILE *f);
const struct oxc_cmd *oxc_cmd_find(const char *name);
/* The command name is most likely a typo of (two edits at most), or NULL. */
const struct oxc_cmd *oxc_cmd_suggest(const char *name);
/* "unknown command 'X'", with "; did you mean 'Y'?" when there is a Y. */
void oxc_cmd_unknown(const char *name, char *buf, size_t len);
/* "oxprofctl VERSION (protocol N)" on stdout; returns 0. */
int oxc_version_print(void);

extern const struct oxc_cmd oxc_cmd_status, oxc_cmd_start, oxc_cmd_stop, oxc_cmd_pause,
	oxc_cmd_unpause, oxc_cmd_reset, oxc_cmd_query, oxc_cmd_record, oxc_cmd_help,
	oxc_cmd_version;

#endif
