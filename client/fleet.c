/* fleet.c - start, stop, pause, unpause, reset; see fleet.h. */
#include <errno.h>
#include <stdio.h>

#include "ctl.h"
#include "fleet.h"
#include "output.h"

/* What each command did, for "paused 3 agents". */
static const char *done_verb(uint8_t code)
{
	switch (code) {
	case OXP_CMD_START: return "started";
	case OXP_CMD_STOP: return "stopped";
	case OXP_CMD_PAUSE: return "paused";
	case OXP_CMD_UNPAUSE: return "unpaused";
	case OXP_CMD_RESET: return "reset";
	}
	return "done";
}

static void print_json(const struct oxc_ctl *c, uint8_t code)
{
	struct oxc_json j;
	oxc_json_init(&j, stdout);
	oxc_json_obj(&j, NULL);
	oxc_json_cstr(&j, "command", oxc_cmd_name(code));
	oxc_json_bool(&j, "ok", 1);
	oxc_json_u64(&j, "affected", c->affected);
	oxc_json_cstr(&j, "message", c->reply_msg);
	oxc_json_end(&j, '}');
	oxc_json_finish(&j);
}

static void print_text(const struct oxc_ctl *c, const struct oxc_opts *o, uint8_t code)
{
	if (code == OXP_CMD_RESET) {
		printf("reset: aggregated samples discarded\n");
	} else {
		const char *scope = o->npids || o->exe ? "selected" : "connected";
		printf("%s: %u %s agent%s", done_verb(code), (unsigned)c->affected, scope,
		       c->affected == 1 ? "" : "s");
		if (code == OXP_CMD_START)
			printf(" (aggregate reset)");
		if (!o->npids && !o->exe && (code != OXP_CMD_STOP && code != OXP_CMD_RESET))
			printf("; agents that connect later follow");
		printf("\n");
	}
}

int oxc_fleet_exec(const struct oxc_opts *o, uint8_t code)
{
	struct oxc_ctl c;
	struct oxp_command cmd;
	int r = oxc_ctl_connect(&c, o);
	if (r)
		return r;
	oxc_ctl_command_init(&cmd, code, o);
	cmd.hz = o->hz;
	cmd.mode = o->mode < 0 ? 0xff : (uint8_t)o->mode;
	cmd.depth = o->depth;
	r = oxc_ctl_command(&c, &cmd, NULL, NULL);
	if (r < 0) {
		oxc_ctl_fail(&c, o->json, r);
		oxc_ctl_close(&c);
		return 1;
	}
	if (o->json)
		print_json(&c, code);
	else
		print_text(&c, o, code);
	oxc_ctl_close(&c);
	return 0;
}
