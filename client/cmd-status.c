/* cmd-status.c - `oxprofctl status`: the daemon, the fleet, the agents. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "ctl.h"
#include "fail.h"
#include "format.h"
#include "json.h"
#include "table.h"
#include "term.h"

static const char *state_name(unsigned s)
{
	static const char *const names[] = { "paused", "running", "exited", "disabled" };
	return s < 4 ? names[s] : "unknown";
}

/* The user name of uid, or the number when it has none. */
static void user_name(uint32_t uid, char *buf, size_t len)
{
	struct passwd pw, *res = NULL;
	char tmp[1024];
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(buf, len, "%s", res->pw_name);
	else
		snprintf(buf, len, "%u", (unsigned)uid);
}

/* The CPU time an agent's samples are taken in. */
static const char *covers_name(uint8_t c)
{
	if (c & OXP_CPU_SYSTEM)
		return "user+system";
	return c & OXP_CPU_USER ? "user" : "none";
}

static void json_agent(struct oxc_json *j, const struct oxp_agent_row *a)
{
	char user[64];
	user_name(a->uid, user, sizeof(user));
	oxc_json_obj(j, NULL);
	oxc_json_i64(j, "pid", a->pid);
	oxc_json_u64(j, "uid", a->uid);
	oxc_json_cstr(j, "user", user);
	oxc_json_str(j, "exe", a->exe.ptr, a->exe.len);
	oxc_json_bool(j, "exe_claimed", !!(a->flags & OXP_ROW_CLAIMED));
	oxc_json_u64(j, "start_time", a->start_time);
	oxc_json_cstr(j, "state", state_name(a->state));
	oxc_json_cstr(j, "mode", oxc_mode_name(a->mode));
	oxc_json_u64(j, "hz_requested", a->hz_requested);
	oxc_json_f64(j, "hz_achieved", a->hz_achieved, 1);
	oxc_json_str(j, "source", a->source.ptr, a->source.len);
	oxc_json_u64(j, "samples", a->samples);
	oxc_json_u64(j, "dropped_agent", a->dropped_agent);
	oxc_json_u64(j, "dropped_daemon", a->dropped_daemon);
	oxc_json_u64(j, "unwind_fail", a->unwind_fail);
	oxc_json_u64(j, "connected_ms", a->connected_ms);
	oxc_json_u64(j, "last_batch_ms", a->last_batch_ms);
	oxc_json_u64(j, "taken", a->taken);
	oxc_json_u64(j, "sent", a->sent);
	oxc_json_u64(j, "cpu_user_ms", a->cpu_user_ms);
	oxc_json_u64(j, "cpu_sys_ms", a->cpu_sys_ms);
	oxc_json_u64(j, "sampled_user_ms", a->sampled_user_ms);
	oxc_json_u64(j, "sampled_sys_ms", a->sampled_sys_ms);
	oxc_json_cstr(j, "cpu_sampled", covers_name(a->cpu_covers));
	oxc_json_i64(j, "ppid", a->ppid);
	oxc_json_u64(j, "exited_ms", a->exited_ms);
	oxc_json_end(j, '}');
}

static void json_uid(struct oxc_json *j, const struct oxp_uid_row *u)
{
	char user[64];
	user_name(u->uid, user, sizeof(user));
	oxc_json_obj(j, NULL);
	oxc_json_u64(j, "uid", u->uid);
	oxc_json_cstr(j, "user", user);
	oxc_json_u64(j, "mem", u->mem);
	oxc_json_u64(j, "connections", u->conns);
	oxc_json_u64(j, "agents", u->agents);
	oxc_json_u64(j, "refused_connections", u->refused_conns);
	oxc_json_u64(j, "refused_mem", u->refused_mem);
	oxc_json_u64(j, "dropped", u->dropped);
	oxc_json_end(j, '}');
}

static void json_fleet(struct oxc_json *j, const struct oxp_fleet *f)
{
	oxc_json_obj(j, "fleet");
	oxc_json_cstr(j, "state", f->running ? "running" : "paused");
	oxc_json_bool(j, "running", f->running);
	oxc_json_cstr(j, "mode", oxc_mode_name(f->mode));
	oxc_json_u64(j, "hz", f->hz);
	oxc_json_u64(j, "depth", f->depth);
	oxc_json_end(j, '}');
}

static void print_json(const char *path, const struct oxp_status *s)
{
	struct oxc_json j;
	oxc_json_init(&j, stdout);
	oxc_json_obj(&j, NULL);
	oxc_json_cstr(&j, "socket", path);
	oxc_json_str(&j, "software", s->software.ptr, s->software.len);
	oxc_json_u64(&j, "uptime_ms", s->uptime_ms);
	json_fleet(&j, &s->fleet);
	oxc_json_u64(&j, "samples", s->samples);
	oxc_json_u64(&j, "dropped", s->dropped);
	oxc_json_u64(&j, "refused_connections", s->refused_conns);
	oxc_json_u64(&j, "mem_used", s->mem_used);
	oxc_json_u64(&j, "mem_budget", s->mem_budget);
	oxc_json_u64(&j, "mem_peers", s->mem_peers);
	oxc_json_u64(&j, "refused_mem", s->refused_mem);
	oxc_json_obj(&j, "history");
	oxc_json_u64(&j, "slots", s->hist_slots);
	oxc_json_u64(&j, "bytes", s->hist_bytes);
	oxc_json_u64(&j, "first_ms", s->hist_first_ms);
	oxc_json_u64(&j, "merged_slots", s->hist_merged);
	oxc_json_u64(&j, "dropped_slots", s->hist_dropped_slots);
	oxc_json_u64(&j, "dropped_samples", s->hist_dropped_samples);
	oxc_json_end(&j, '}');
	oxc_json_arr(&j, "agents");
	for (uint32_t i = 0; i < s->nagents; i++)
		json_agent(&j, &s->agents[i]);
	oxc_json_end(&j, ']');
	oxc_json_arr(&j, "users");
	for (uint32_t i = 0; i < s->nuids; i++)
		json_uid(&j, &s->uids[i]);
	oxc_json_end(&j, ']');
	oxc_json_end(&j, '}');
	oxc_json_finish(&j);
}

static void print_summary(const char *path, const struct oxp_status *s)
{
	char up[32], used[32], budget[32];
	uint64_t agent_drops = 0;
	unsigned by_state[5] = { 0 };
	for (uint32_t i = 0; i < s->nagents; i++) {
		agent_drops += s->agents[i].dropped_agent;
		by_state[s->agents[i].state < 4 ? s->agents[i].state : 4]++;
	}
	oxc_fmt_duration(up, sizeof(up), s->uptime_ms);
	oxc_fmt_bytes(used, sizeof(used), s->mem_used);
	oxc_fmt_bytes(budget, sizeof(budget), s->mem_budget);
	printf("daemon:   %.*s at %s, up %s\n", (int)s->software.len, s->software.ptr, path, up);
	printf("fleet:    %s, %s mode, %u Hz, depth %u\n", s->fleet.running ? "running" : "paused",
	       oxc_mode_name(s->fleet.mode), (unsigned)s->fleet.hz, (unsigned)s->fleet.depth);
	printf("samples:  %llu accepted; dropped: %llu by the daemon, %llu in agents\n",
	       (unsigned long long)s->samples, (unsigned long long)s->dropped,
	       (unsigned long long)agent_drops);
	char peers[32];
	oxc_fmt_bytes(peers, sizeof(peers), s->mem_peers);
	printf("memory:   %s of %s (%s for connections); %llu connection%s refused, "
	       "%llu memory charge%s refused\n", used, budget, peers,
	       (unsigned long long)s->refused_conns, s->refused_conns == 1 ? "" : "s",
	       (unsigned long long)s->refused_mem, s->refused_mem == 1 ? "" : "s");
	char hb[32], h0[32] = "";
	oxc_fmt_bytes(hb, sizeof(hb), s->hist_bytes);
	if (s->hist_first_ms)
		oxc_fmt_time(h0, sizeof(h0), s->hist_first_ms);
	printf("history:  %llu time slot%s (%s)%s%s; %llu merged into coarser ones, "
	       "%llu dropped over the budget (%llu samples in no slot)\n",
	       (unsigned long long)s->hist_slots, s->hist_slots == 1 ? "" : "s", hb,
	       *h0 ? " from " : "", h0, (unsigned long long)s->hist_merged,
	       (unsigned long long)s->hist_dropped_slots,
	       (unsigned long long)s->hist_dropped_samples);
	printf("agents:   %u (%u running, %u paused, %u exited, %u disabled)\n",
	       (unsigned)s->nagents, by_state[1], by_state[0], by_state[2], by_state[3]);
}

/* Exited agents in one line: how many, and what they left in the
 * aggregate; their rows only with --all. */
static void print_exited(const struct oxp_status *s)
{
	unsigned n = 0;
	uint64_t samples = 0;
	for (uint32_t i = 0; i < s->nagents; i++)
		if (s->agents[i].state == OXP_AGENT_EXITED) {
			n++;
			samples += s->agents[i].samples;
		}
	if (n)
		printf("exited:   %u agent%s, %llu samples kept in the aggregate "
		       "(`oxprofctl status --all` lists them)\n", n, n == 1 ? "" : "s",
		       (unsigned long long)samples);
}

static void agent_row(struct oxc_table *t, const struct oxp_agent_row *a)
{
	char pid[16], user[64], hz[48], samples[24], drops[24], cpu[48];
	snprintf(pid, sizeof(pid), "%d", (int)a->pid);
	user_name(a->uid, user, sizeof(user));
	snprintf(hz, sizeof(hz), "%.0f/%u", a->hz_achieved, (unsigned)a->hz_requested);
	snprintf(samples, sizeof(samples), "%llu", (unsigned long long)a->samples);
	snprintf(drops, sizeof(drops), "%llu",
		 (unsigned long long)(a->dropped_agent + a->dropped_daemon));
	snprintf(cpu, sizeof(cpu), "%.2f+%.2f s", a->cpu_user_ms / 1000.0, a->cpu_sys_ms / 1000.0);
	char source[128], exe[1024];
	snprintf(source, sizeof(source), "%.*s", (int)a->source.len, a->source.ptr ? a->source.ptr : "");
	/* An exe the kernel could not vouch for is the agent's word only. */
	snprintf(exe, sizeof(exe), "%s%.*s", a->flags & OXP_ROW_CLAIMED ? "[claimed] " : "",
		 (int)a->exe.len, a->exe.ptr ? a->exe.ptr : "");
	oxc_table_add(t, (const char *const[]){ pid, user, state_name(a->state), hz, source,
						samples, drops, cpu,
						covers_name(a->cpu_covers), exe });
}

/* Users with refusals: who was held back, and how much they hold. */
static void print_users(const struct oxp_status *s, int width, int color)
{
	static const char *const titles[] = { "USER", "MEMORY", "CONNS", "AGENTS",
					      "REFUSED CONNS", "REFUSED MEM", "REFUSED SAMPLES" };
	struct oxc_table *t = NULL;
	for (uint32_t i = 0; i < s->nuids; i++) {
		const struct oxp_uid_row *u = &s->uids[i];
		if (!u->refused_conns && !u->refused_mem && !u->dropped)
			continue;
		if (!t)
			t = oxc_table_new(7, titles, "lrrrrrr");
		char user[64], mem[32], c[16], a[16], rc[24], rm[24], d[24];
		user_name(u->uid, user, sizeof(user));
		oxc_fmt_bytes(mem, sizeof(mem), u->mem);
		snprintf(c, sizeof(c), "%u", (unsigned)u->conns);
		snprintf(a, sizeof(a), "%u", (unsigned)u->agents);
		snprintf(rc, sizeof(rc), "%llu", (unsigned long long)u->refused_conns);
		snprintf(rm, sizeof(rm), "%llu", (unsigned long long)u->refused_mem);
		snprintf(d, sizeof(d), "%llu", (unsigned long long)u->dropped);
		oxc_table_add(t, (const char *const[]){ user, mem, c, a, rc, rm, d });
	}
	if (!t)
		return;
	putchar('\n');
	oxc_table_print(t, stdout, width, color);
	oxc_table_free(t);
}

static void print_text(const char *path, const struct oxp_status *s, int wide, int all)
{
	static const char *const titles[] = { "PID", "USER", "STATE", "HZ ACHIEVED/ASKED",
					      "SOURCE", "SAMPLES", "DROPS", "CPU USER+SYS",
					      "SAMPLED", "EXE" };
	print_summary(path, s);
	if (!all)
		print_exited(s);
	print_users(s, oxc_out_width(stdout, wide), oxc_out_color(stdout));
	uint32_t shown = 0;
	for (uint32_t i = 0; i < s->nagents; i++)
		shown += all || s->agents[i].state != OXP_AGENT_EXITED;
	if (!shown)
		return;
	putchar('\n');
	struct oxc_table *t = oxc_table_new(10, titles, "rllrlrrrll");
	for (uint32_t i = 0; i < s->nagents; i++)
		if (all || s->agents[i].state != OXP_AGENT_EXITED)
			agent_row(t, &s->agents[i]);
	oxc_table_print(t, stdout, oxc_out_width(stdout, wide), oxc_out_color(stdout));
	oxc_table_free(t);
}

struct status_ctx {
	const struct oxc_opts *o;
	const char *path;
	int seen;
};

/* oxc_ctl_fn: STATUS is complete in one message, so print it at once. */
static int on_status(void *arg, const struct oxp_msg *m)
{
	struct status_ctx *x = arg;
	if (m->type != OXP_MSG_STATUS)
		return 0;
	x->seen = 1;
	if (x->o->json)
		print_json(x->path, &m->u.status);
	else
		print_text(x->path, &m->u.status, 0, x->o->all);
	return 0;
}

static int status_exec(const struct oxc_cmd *self, const struct oxc_opts *o)
{
	struct oxc_ctl c;
	int r = oxc_ctl_connect(&c, o);
	if (r)
		return r;
	struct oxp_command cmd;
	oxc_ctl_command_init(&cmd, OXP_CMD_STATUS, o);
	struct status_ctx x = { o, c.path, 0 };
	r = oxc_ctl_command(&c, &cmd, on_status, &x);
	oxc_ctl_close(&c);
	if (r < 0)
		return oxc_ctl_fail(&c, o->json, r);
	if (!x.seen)
		return oxc_fail(o->json, -EPROTO, "oxprofd at %s replied without a status", c.path);
	return 0;
}

const struct oxc_cmd oxc_cmd_status = {
	.name = "status",
	.summary = "show the daemon, the fleet state and the connected agents",
	.usage = "status [--all] [--pid PID]... [--exe NAME] [--tree PID]\n"
		 "  The daemon (software, uptime, socket), the fleet state (running or\n"
		 "  paused, mode, rate, depth), samples and drops, memory, and one row per\n"
		 "  connected agent: pid, user, state, achieved/requested rate, sampling\n"
		 "  source, samples accepted, samples dropped (in the agent and by the\n"
		 "  daemon), the process's CPU time (user+system seconds) and which of it\n"
		 "  is sampled (user+system, or user only: see OXPROF_KERNEL), executable\n"
		 "  (\"[claimed] \" when /proc could not confirm what the agent said).\n"
		 "  Agents that exited are counted in one line (their samples stay in the\n"
		 "  aggregate; the daemon forgets their rows after its --exited-ttl).\n"
		 "  Users the daemon refused connections, memory or samples are listed\n"
		 "  with what they hold.  --json lists every row.\n"
		 "  --all         list the exited agents' rows too\n"
		 "  --pid PID     only this process's rows (repeatable)\n"
		 "  --exe NAME    only rows of processes of this executable\n"
		 "  --tree PID    only the rows of this process and its descendants\n",
	.opts = OXC_OPT_ALL | OXC_OPT_SELECT,
	.min_args = 0,
	.max_args = 0,
	.exec = status_exec,
};
