/*
 * test-daemon-basic.c - oxprofd's core: agents join and report, queries
 * count exactly, commands reach the right agents, status tells the truth.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "task.h"

static void query(const struct oxt_daemon *d, uint8_t by, uint8_t sort, uint32_t limit,
		  const struct oxp_selector *sel, struct oxt_result *r)
{
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_QUERY);
	c.by = by;
	c.sort = sort;
	c.limit = limit;
	if (sel)
		c.sel = *sel;
	oxt_command(&p, &c, r);
	oxt_peer_close(&p);
}

TEST(daemon_join_gets_fleet_defaults)
{
	struct oxt_daemon d;
	const char *args[] = { "--hz", "997", "--mode", "wall", "--depth", "64", NULL };
	oxt_daemon_start(&d, args);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/worker"), 0);
	ASSERT_EQ(a.fleet.running, 0);
	ASSERT_EQ(a.fleet.hz, 997);
	ASSERT_EQ(a.fleet.mode, OXP_MODE_WALL);
	ASSERT_EQ(a.fleet.depth, 64);
	ASSERT(a.p.welcome.flush_ms > 0);
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}

TEST(daemon_default_fleet_is_paused_100hz_cpu_128)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_EQ(st.fleet.running, 0);
	ASSERT_EQ(st.fleet.hz, 100);
	ASSERT_EQ(st.fleet.mode, OXP_MODE_CPU);
	ASSERT_EQ(st.fleet.depth, 128);
	oxt_daemon_finish(&d);
}

/* main -> f -> f -> f (recursion) and main -> g -> f; the known truth. */
static void send_workload(struct oxt_agent *a)
{
	struct oxp_samples_ack ack;
	oxt_agent_add(a, 101, "main", "main;f;f;f", 30);
	oxt_agent_add(a, 101, "main", "main;g;f", 20);
	oxt_agent_add(a, 102, "worker", "main;g", 7);
	oxt_agent_add(a, 102, "worker", "libc.so.6!start;main;h", 3);
	ASSERT_EQ(oxt_agent_flush(a, &ack), 0);
	ASSERT_EQ(ack.accepted, 60);
	ASSERT_EQ(ack.refused, 0);
	/* A second batch reuses the ids of the first. */
	oxt_agent_add(a, 101, "main", "main;f;f;f", 10);
	ASSERT_EQ(oxt_agent_flush(a, &ack), 0);
	ASSERT_EQ(ack.seq, 2);
	ASSERT_EQ(ack.accepted, 10);
}

TEST(daemon_query_by_function_counts_recursion_once)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/app"), 0);
	send_workload(&a);
	struct oxt_result r;
	query(&d, OXP_BY_FUNCTION, OXP_SORT_SELF, 0, NULL, &r);
	ASSERT_EQ(r.code, 0);
	ASSERT_EQ(r.head.total, 70);
	ASSERT_EQ(r.head.nprocs, 1);
	ASSERT_EQ(r.head.nrows, r.nrows);
	const struct oxt_row *f = oxt_row_named(&r, "f"), *g = oxt_row_named(&r, "g");
	const struct oxt_row *m = oxt_row_named(&r, "main"), *h = oxt_row_named(&r, "h");
	const struct oxt_row *s = oxt_row_named(&r, "start");
	ASSERT(f && g && m && h && s);
	ASSERT_EQ(f->self, 60);
	ASSERT_EQ(f->total, 60); /* 40 recursive samples count once each */
	ASSERT_EQ(g->self, 7);
	ASSERT_EQ(g->total, 27);
	ASSERT_EQ(m->self, 0);
	ASSERT_EQ(m->total, 70);
	ASSERT_EQ(h->self, 3);
	ASSERT_STREQ(s->module, "libc.so.6");
	ASSERT_STREQ(f->module, "libtest.so");
	ASSERT_STREQ(r.rows[0].name, "f"); /* sorted by self */
	oxt_result_free(&r);
	query(&d, OXP_BY_FUNCTION, OXP_SORT_TOTAL, 2, NULL, &r);
	ASSERT_EQ(r.nrows, 2);
	ASSERT_EQ(r.head.nrows, 2);
	ASSERT_EQ(r.head.total, 70);
	ASSERT_STREQ(r.rows[0].name, "main");
	ASSERT_STREQ(r.rows[1].name, "f");
	oxt_result_free(&r);
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}

TEST(daemon_query_folded_threads_modules_filters)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/app"), 0);
	send_workload(&a);
	struct oxt_result r;
	query(&d, OXP_BY_STACK, OXP_SORT_SELF, 0, NULL, &r);
	ASSERT_EQ(r.nrows, 4);
	const struct oxt_row *x = oxt_row_named(&r, "main;f;f;f");
	ASSERT(x && x->self == 40 && x->total == 40);
	x = oxt_row_named(&r, "start;main;h");
	ASSERT(x && x->self == 3);
	ASSERT_STREQ(r.rows[0].name, "main;f;f;f");
	oxt_result_free(&r);

	query(&d, OXP_BY_THREAD, OXP_SORT_SELF, 0, NULL, &r);
	ASSERT_EQ(r.nrows, 2);
	x = oxt_row_named(&r, "main");
	ASSERT(x && x->self == 60 && x->tid == 101 && x->pid == getpid());
	x = oxt_row_named(&r, "worker");
	ASSERT(x && x->self == 10 && x->tid == 102);
	oxt_result_free(&r);

	query(&d, OXP_BY_MODULE, OXP_SORT_TOTAL, 0, NULL, &r);
	x = oxt_row_named(&r, "libc.so.6");
	ASSERT(x && x->self == 0 && x->total == 3);
	x = oxt_row_named(&r, "libtest.so");
	ASSERT(x && x->self == 70 && x->total == 70);
	oxt_result_free(&r);

	query(&d, OXP_BY_PROCESS, OXP_SORT_SELF, 0, NULL, &r);
	ASSERT_EQ(r.nrows, 1);
	ASSERT(r.rows[0].pid == getpid() && r.rows[0].self == 70);
	ASSERT_STREQ(r.rows[0].name, "/usr/bin/app");
	oxt_result_free(&r);

	/* Filters: a thread by name and by tid, an exe by basename. */
	struct oxp_selector sel = { .thread = oxp_str_c("worker") };
	query(&d, OXP_BY_FUNCTION, OXP_SORT_SELF, 0, &sel, &r);
	ASSERT_EQ(r.head.total, 10);
	x = oxt_row_named(&r, "g");
	ASSERT(x && x->self == 7 && x->total == 7);
	ASSERT(!oxt_row_named(&r, "f"));
	oxt_result_free(&r);
	sel = (struct oxp_selector){ .thread = oxp_str_c("101"), .exe = oxp_str_c("app") };
	query(&d, OXP_BY_FUNCTION, OXP_SORT_SELF, 0, &sel, &r);
	ASSERT_EQ(r.head.total, 60);
	x = oxt_row_named(&r, "f");
	ASSERT(x && x->self == 60 && x->total == 60);
	oxt_result_free(&r);
	int32_t pid = getpid();
	sel = (struct oxp_selector){ .npids = 1, .pids = &pid };
	query(&d, OXP_BY_EXE, OXP_SORT_SELF, 0, &sel, &r);
	ASSERT(r.nrows == 1 && r.rows[0].self == 70);
	oxt_result_free(&r);
	sel = (struct oxp_selector){ .exe = oxp_str_c("nosuch") };
	query(&d, OXP_BY_FUNCTION, OXP_SORT_SELF, 0, &sel, &r);
	ASSERT_EQ(r.code, -OXP_ENOMATCH);
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}

TEST(daemon_many_rows_split_over_frames)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/app"), 0);
	/* 3000 distinct stacks with long names: more than one QUERY_ROWS. */
	char name[600], stack[1300];
	memset(name, 'x', 500);
	uint64_t sent = 0;
	for (int b = 0; b < 3; b++) {
		for (int i = 0; i < 1000; i++) {
			snprintf(name + 500, 100, "%d", b * 1000 + i);
			snprintf(stack, sizeof(stack), "main;%s", name);
			oxt_agent_add(&a, 1, "t", stack, (uint32_t)(i % 7 + 1));
			sent += (uint64_t)(i % 7 + 1);
		}
		struct oxp_samples_ack ack;
		ASSERT_EQ(oxt_agent_flush(&a, &ack), 0);
		ASSERT_EQ(ack.refused, 0);
	}
	struct oxt_result r;
	query(&d, OXP_BY_STACK, OXP_SORT_SELF, 0, NULL, &r);
	ASSERT_EQ(r.nrows, 3000);
	ASSERT(r.nframes > 1);
	uint64_t sum = 0;
	for (size_t i = 0; i < r.nrows; i++) {
		sum += r.rows[i].self;
		if (i)
			ASSERT(r.rows[i - 1].self >= r.rows[i].self);
	}
	ASSERT_EQ(sum, sent);
	ASSERT_EQ(r.head.total, sent);
	oxt_result_free(&r);
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}

TEST(daemon_exited_agent_keeps_rows_until_reset)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	int pfd[2];
	ASSERT(pipe(pfd) == 0);
	pid_t kid = fork();
	if (kid == 0) {
		struct oxt_agent a;
		ASSERT_EQ(oxt_agent_join(&a, &d, "/bin/short-lived"), 0);
		oxt_agent_report(&a, OXP_AGENT_RUNNING);
		/* Send without waiting for the ack, then exit at once: the daemon
		 * must count everything before it says "exited". */
		for (int i = 0; i < 50; i++) {
			oxt_agent_add(&a, 7, "t", "main;work", 2);
			ASSERT_EQ(oxt_agent_send(&a), 0);
		}
		oxt_agent_add(&a, 7, "t", "main;last", 5);
		ASSERT_EQ(oxt_agent_send(&a), 0);
		_exit(0);
	}
	int st;
	waitpid(kid, &st, 0);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	oxt_wait_agent_state(&d, kid, OXP_AGENT_EXITED, 5000);
	struct oxt_status s;
	oxt_status(&d, &s);
	const struct oxt_agent_row *row = oxt_status_pid(&s, kid);
	ASSERT(row && row->samples == 105 && strcmp(row->exe, "/bin/short-lived") == 0);
	ASSERT_EQ(s.samples, 105);
	struct oxt_result r;
	ASSERT_EQ(oxt_simple(&d, OXP_CMD_RESET, &r), 0);
	oxt_status(&d, &s);
	ASSERT(!oxt_status_pid(&s, kid));
	ASSERT_EQ(s.samples, 0);
	oxt_daemon_finish(&d);
}

TEST(daemon_agent_state_is_shown_not_forced)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/recorded"), 0);
	ASSERT_EQ(a.fleet.running, 0);
	/* Like an agent under `oxprofctl record`: it keeps running. */
	oxt_agent_report(&a, OXP_AGENT_RUNNING);
	oxt_wait_agent_state(&d, getpid(), OXP_AGENT_RUNNING, 3000);
	struct oxp_set_state ss;
	ASSERT_EQ(oxt_agent_wait_state(&a, &ss, 300), -ETIMEDOUT); /* nobody paused it */
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}


TEST(daemon_status_rows_and_counters)
{
	struct oxt_daemon d;
	const char *args[] = { "--mem-budget", "64M", NULL };
	oxt_daemon_start(&d, args);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/usr/bin/app"), 0);
	send_workload(&a);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_EQ(st.samples, 70);
	ASSERT_EQ(st.dropped, 0);
	ASSERT_EQ(st.mem_budget, 64ull << 20);
	ASSERT(st.mem_used > 0 && st.mem_used < st.mem_budget);
	const struct oxt_agent_row *row = oxt_status_pid(&st, getpid());
	ASSERT(row);
	ASSERT_EQ(row->samples, 70);
	ASSERT_EQ(row->uid, getuid());
	ASSERT_STREQ(row->exe, "/usr/bin/app");
	ASSERT_STREQ(row->source, "fake");
	ASSERT(row->last_batch_ms > 0);
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}


TEST(daemon_sparse_ids_like_an_agent_after_reconnect)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, &d, OXP_ROLE_AGENT, "/bin/sparse", NULL, 0), 0);
	/* An agent whose tables grew large before a reconnect defines only
	 * the high ids it still uses. */
	struct oxp_str_def sd[3] = { { 1000000, oxp_str_c("hot") }, { 4000000000u, oxp_str_c("m.so") },
				     { 7, oxp_str_c("thr") } };
	struct oxp_frame_def fd[2] = { { 3000000000u, 1000000, 4000000000u, 16 },
				       { 5, 1000000, 4000000000u, 32 } };
	struct oxp_thread_def td = { 4000000, 7 };
	const uint32_t f1[] = { 3000000000u, 5 };
	struct oxp_stack st = { 4000000, 0, 9, 2, f1 };
	struct oxp_msg m = { .type = OXP_MSG_SAMPLES };
	m.u.samples = (struct oxp_samples){ 1, 3, sd, 2, fd, 1, &td, 1, &st, { 0 }, 0, NULL, 0, 0 };
	ASSERT_EQ(oxt_send(&p, &m), 0);
	ASSERT_EQ(oxt_recv(&p, &m, 5000), 0);
	ASSERT_EQ(m.type, OXP_MSG_SAMPLES_ACK);
	ASSERT_EQ(m.u.samples_ack.accepted, 9);
	struct oxt_result r;
	struct oxt_peer c;
	ASSERT_EQ(oxt_peer_open(&c, &d, OXP_ROLE_CONTROL, "q", NULL, 0), 0);
	struct oxp_command q = oxt_cmd(OXP_CMD_QUERY);
	q.by = OXP_BY_THREAD;
	oxt_command(&c, &q, &r);
	ASSERT(r.nrows == 1 && r.rows[0].tid == 4000000 && r.rows[0].self == 9);
	ASSERT_STREQ(r.rows[0].name, "thr");
	oxt_result_free(&r);
	q.by = OXP_BY_FUNCTION;
	oxt_command(&c, &q, &r);
	ASSERT(r.nrows == 1 && r.rows[0].self == 9 && r.rows[0].total == 9);
	ASSERT_STREQ(r.rows[0].module, "m.so");
	oxt_result_free(&r);
	oxt_peer_close(&c);
	oxt_peer_close(&p);
	oxt_daemon_finish(&d);
}
