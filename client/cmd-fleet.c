/*
 * cmd-fleet.c - start, stop, pause, unpause, reset: the fleet commands.
 * Each is one COMMAND and one REPLY, so the five entries share one exec,
 * which tells them apart by the entry it is called for.
 */
#include <stdio.h>

#include "cmd.h"
#include "ctl.h"
#include "json.h"

#define SELECT_HELP(exe_hint)                                                  \
	"  --pid PID     only this process (repeatable)\n"                      \
	"  --exe NAME    only processes of this executable" exe_hint "\n"          \
	"  --tree PID    only this process and its descendants\n"

static int fleet_exec(const struct oxc_cmd *self, const struct oxc_opts *o);

const struct oxc_cmd oxc_cmd_start = {
	.name = "start",
	.summary = "reset the aggregate, set rate and mode, and sample",
	.usage = "start [--hz N] [--mode cpu|wall] [--depth N] [--pid PID]... [--exe NAME]\n"
		 "      [--tree PID]\n"
		 "  Discard the aggregated samples, apply the given rate, mode and stack\n"
		 "  depth (the others keep their current value) and make the agents sample.\n"
		 "  Without a selector this sets the fleet state that new agents adopt.\n"
		 "  --hz N        samples per second per thread, 1.." OXC_STR(OXP_MAX_HZ) "\n"
		 "  --mode M      cpu (on-CPU time) or wall (every thread, running or blocked)\n"
		 "  --depth N     frames per stack, 1.." OXC_STR(OXP_MAX_DEPTH) "\n"
		 SELECT_HELP(" (basename or full path)"),
	.opts = OXC_OPT_SELECT | OXC_OPT_RATE,
	.max_args = 0,
	.exec = fleet_exec,
};

const struct oxc_cmd oxc_cmd_stop = {
	.name = "stop",
	.summary = "stop sampling and have the agents flush what they hold",
	.usage = "stop [--pid PID]... [--exe NAME] [--tree PID]\n"
		 "  Pause sampling; the agents send the samples they still hold.\n"
		 SELECT_HELP(""),
	.opts = OXC_OPT_SELECT,
	.max_args = 0,
	.exec = fleet_exec,
};

const struct oxc_cmd oxc_cmd_pause = {
	.name = "pause",
	.summary = "disarm the agents' timers (no sampling cost)",
	.usage = "pause [--pid PID]... [--exe NAME] [--tree PID]\n"
		 "  The agents disarm their timers and stay connected: zero sampling cost.\n"
		 SELECT_HELP(""),
	.opts = OXC_OPT_SELECT,
	.max_args = 0,
	.exec = fleet_exec,
};

const struct oxc_cmd oxc_cmd_unpause = {
	.name = "unpause",
	.summary = "arm the agents' timers: sampling begins",
	.usage = "unpause [--pid PID]... [--exe NAME] [--tree PID]\n"
		 "  The agents arm their timers at the current rate and mode.  Without a\n"
		 "  selector, agents that connect later sample at once too.\n"
		 SELECT_HELP(""),
	.opts = OXC_OPT_SELECT,
	.max_args = 0,
	.exec = fleet_exec,
};

const struct oxc_cmd oxc_cmd_reset = {
	.name = "reset",
	.summary = "forget the aggregated samples",
	.usage = "reset [--pid PID]... [--exe NAME] [--tree PID]\n"
		 "  Discard every aggregated sample in the daemon (or the selected\n"
		 "  processes' samples); the sampling state stays.\n"
		 SELECT_HELP(""),
	.opts = OXC_OPT_SELECT,
	.max_args = 0,
	.exec = fleet_exec,
};

/* The protocol's code for an entry of this file. */
static uint8_t code_of(const struct oxc_cmd *self)
{
	if (self == &oxc_cmd_start)
		return OXP_CMD_START;
	if (self == &oxc_cmd_stop)
		return OXP_CMD_STOP;
	if (self == &oxc_cmd_pause)
		return OXP_CMD_PAUSE;
	if (self == &oxc_cmd_unpause)
		return OXP_CMD_UNPAUSE;
	return OXP_CMD_RESET;
}

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
	if (code == OXP_CMD_RESET && (o->npids || o->exe || o->tree)) {
		printf("reset: samples of %u selected process%s discarded\n", (unsigned)c->affected,
		       c->affected == 1 ? "" : "es");
	} else if (code == OXP_CMD_RESET) {
		printf("reset: aggregated samples discarded\n");
	} else {
		const char *scope = o->npids || o->exe || o->tree ? "selected" : "connected";
		printf("%s: %u %s agent%s", done_verb(code), (unsigned)c->affected, scope,
		       c->affected == 1 ? "" : "s");
		if (code == OXP_CMD_START)
			printf(" (aggregate reset)");
		if (!o->npids && !o->exe && !o->tree &&
		    (code != OXP_CMD_STOP && code != OXP_CMD_RESET))
			printf("; agents that connect later follow");
		printf("\n");
	}
}

/* Send the command with o's selector (and rate for start), print what
 * happened (text or --json).  The exit code: 0, or 1 on failure. */
static int fleet_exec(const struct oxc_cmd *self, const struct oxc_opts *o)
{
	uint8_t code = code_of(self);
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
