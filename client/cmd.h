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

/* The command table, NULL-terminated; defined in main.c. */
extern const struct oxc_cmd *const oxc_commands[];

/* Print the usage of cmd (or the command list when cmd is NULL) to f. */
void oxc_cmd_usage(const struct oxc_cmd *cmd, FILE *f);
const struct oxc_cmd *oxc_cmd_find(const char *name);

extern const struct oxc_cmd oxc_cmd_status, oxc_cmd_start, oxc_cmd_stop, oxc_cmd_pause,
	oxc_cmd_unpause, oxc_cmd_reset, oxc_cmd_query, oxc_cmd_record, oxc_cmd_help,
	oxc_cmd_version;

#endif
