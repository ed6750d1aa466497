/* proto-samples.c - see proto-samples.h. */
#include <string.h>

#include "proto-samples.h"

static const int32_t pids[] = { 42, 4242, 1 };
static const struct oxp_agent_row agents[] = {
	{ 4242, 1000, { "/usr/bin/worker", 15 }, OXP_AGENT_RUNNING, OXP_MODE_CPU,
	  1000, 998.5, { "perf-task-clock", 15 }, 123456, 7, 3, 2, 1700000000000ull,
	  1700000001000ull, 123466, 123459, 0, 987654, 5000, 4000, 2500, 2000,
	  OXP_CPU_USER | OXP_CPU_SYSTEM, 4241, 0 },
	{ 77, 0, { "", 0 }, OXP_AGENT_EXITED, OXP_MODE_WALL, 1, 0.0, { "", 0 }, 0, 0,
	  0, 0, 0, 0, 0, 0, OXP_ROW_CLAIMED, 0, 0, 0, 0, 0, 0, 0, 1700000002000ull },
};
static const struct oxp_uid_row uids[] = {
	{ 1000, 1 << 20, 3, 2, 0, 0, 0 },
	{ 65534, 4 << 20, 256, 255, 768, 12, 5000 },
};
static const uint32_t row_frames[] = { 7, 3, 9 };
static const struct oxp_row rows[] = {
	{ { "leaf_a", 6 }, { "/tmp/workload", 13 }, 0, 0, 600, 600, 0, NULL },
	{ { "main;round_work;leaf_c", 22 }, { "", 0 }, 4242, 4243, 100, 100, 3, row_frames },
};
static const struct oxp_qframe qframes[] = {
	{ 7, { "leaf_c", 6 }, 2, 0x1234 }, { 3, { "", 0 }, 2, 0x10 },
};
static const struct oxp_qmodule qmodules[] = {
	{ 2, { "/tmp/workload", 13 }, { "0a1b2c3d", 8 }, 0x400000 },
};
static const struct oxp_module_def mdefs[] = { { 1, { "00ff", 4 }, 0x400000 } };
static const struct oxp_str_def strs[] = {
	{ 0, { "leaf_a", 6 } }, { 1, { "/tmp/workload", 13 } }, { 2, { "main", 4 } },
	{ 3, { "worker-1", 8 } },
};
static const struct oxp_frame_def frames[] = {
	{ 0, 0, 1, 0x1234 }, { 1, 2, 1, 0xffffffffffull },
};
static const struct oxp_thread_def threads[] = { { 4243, 3 } };
static const uint32_t ids_a[] = { 0, 1 };
static const uint32_t ids_b[] = { 1 };
static const struct oxp_stack stacks[] = {
	{ 4243, OXP_TS_RUNNING, 97, 2, ids_a },
	{ 4242, OXP_TS_BLOCKED, 1, 1, ids_b },
	{ 4242, OXP_TS_RUNNING, 3, 0, NULL },
};
static const struct oxp_agent_stats stats = {
	9, OXP_AGENT_RUNNING, OXP_MODE_CPU, 1000, 997.25, { "perf-task-clock", 15 },
	200, 101, 5, 1, 2, 1234, 5678, 1200, 5600, OXP_CPU_USER,
};

void oxt_sample_msg(int i, struct oxp_msg *m)
{
	memset(m, 0, sizeof(*m));
	struct oxp_fleet fleet = { 1, OXP_MODE_WALL, 10000, 64 };
	switch (i) {
	case 0:
		m->type = OXP_MSG_HELLO;
		m->u.hello = (struct oxp_hello){ OXP_ROLE_AGENT, 4242,
			oxp_str_c("/usr/bin/worker"), oxp_str_c("worker --port 8080"),
			oxp_str_c("liboxprof 0.1.0"), 0x8badf00d12345678ull, 4241 };
		break;
	case 1:
		m->type = OXP_MSG_WELCOME;
		m->u.welcome = (struct oxp_welcome){ oxp_str_c("oxprofd 0.1.0"), fleet,
			17, 250, 40, 42 };
		break;
	case 2:
		m->type = OXP_MSG_ERROR;
		m->u.error = (struct oxp_error_msg){ -1000,
			oxp_str_c("protocol version mismatch: daemon speaks 1, you 2") };
		break;
	case 3:
		m->type = OXP_MSG_BYE;
		m->u.bye.reason = oxp_str_c("daemon shutting down");
		break;
	case 4:
		m->type = OXP_MSG_COMMAND;
		m->u.command = (struct oxp_command){ OXP_CMD_QUERY,
			{ 3, pids, oxp_str_c("worker"), oxp_str_c("4243"), 4241 }, 997,
			OXP_MODE_CPU, 33, OXP_BY_THREAD, OXP_SORT_TOTAL, 20, 1700000000000ull,
			1700000060000ull };
		break;
	case 5:
		m->type = OXP_MSG_REPLY;
		m->u.reply = (struct oxp_reply){ -1, oxp_str_c("permission denied"), 3 };
		break;
	case 6:
		m->type = OXP_MSG_STATUS;
		m->u.status = (struct oxp_status){ oxp_str_c("oxprofd 0.1.0"), 86400000,
			fleet, 1 << 20, 256 << 20, 123456, 9, 4, 2, agents, 4096, 12, 2, uids, 360, 9000, 5, 1, 77,
			1699990000000ull };
		break;
	case 7:
		m->type = OXP_MSG_QUERY_HEAD;
		m->u.query_head = (struct oxp_query_head){ 1000, 1700000000000ull,
			1700000009000ull, 2, 1, 4100, 5900, 4100, 1700000000000ull, 1700000010000ull };
		break;
	case 8:
		m->type = OXP_MSG_QUERY_ROWS;
		m->u.query_rows = (struct oxp_query_rows){ 2, rows, 2, qframes, 1, qmodules };
		break;
	case 9:
		m->type = OXP_MSG_SET_STATE;
		m->u.set_state = (struct oxp_set_state){ fleet, 18, 1 };
		break;
	case 10:
		m->type = OXP_MSG_AGENT_STATE;
		m->u.agent_state = stats;
		break;
	case 12:
		m->type = OXP_MSG_SAMPLES_ACK;
		m->u.samples_ack = (struct oxp_samples_ack){ 5, 98, 3, 4 };
		break;
	case 13:
		m->type = OXP_MSG_DURABLE;
		m->u.durable.seq = 41;
		break;
	default:
		m->type = OXP_MSG_SAMPLES;
		m->u.samples = (struct oxp_samples){ 5, 4, strs, 2, frames, 1, threads,
			3, stacks, stats, 1, mdefs, 1764662400000ull,
			1764662401234ull };
		break;
	}
}
