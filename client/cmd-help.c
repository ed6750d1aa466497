/* cmd-help.c - `oxprofctl help [COMMAND]`. */
#include <stdio.h>

#include "cmd.h"
#include "json.h"

static void help_json(const struct oxc_cmd *only)
{
	struct oxc_json j;
	oxc_json_init(&j, stdout);
	oxc_json_obj(&j, NULL);
	oxc_json_arr(&j, "commands");
	for (int i = 0; oxc_commands[i]; i++) {
		if (only && only != oxc_commands[i])
			continue;
		oxc_json_obj(&j, NULL);
		oxc_json_cstr(&j, "name", oxc_commands[i]->name);
		oxc_json_cstr(&j, "summary", oxc_commands[i]->summary);
		oxc_json_cstr(&j, "usage", oxc_commands[i]->usage);
		oxc_json_end(&j, '}');
	}
	oxc_json_end(&j, ']');
	oxc_json_end(&j, '}');
	oxc_json_finish(&j);
}

static int help_exec(const struct oxc_cmd *self, const struct oxc_opts *o)
{
	const struct oxc_cmd *cmd = NULL;
	if (o->argc == 1 && !(cmd = oxc_cmd_find(o->argv[0]))) {
		char msg[256];
		oxc_cmd_unknown(o->argv[0], msg, sizeof(msg));
		fprintf(stderr, "oxprofctl help: %s\n", msg);
		oxc_cmd_usage(NULL, stderr);
		return 2;
	}
	if (o->json)
		help_json(cmd);
	else
		oxc_cmd_usage(cmd, stdout);
	return 0;
}

const struct oxc_cmd oxc_cmd_help = {
	.name = "help",
	.summary = "list the commands, or show one command's options",
	.usage = "help [COMMAND]\n",
	.opts = 0,
	.min_args = 0,
	.max_args = 1,
	.exec = help_exec,
};
