/*
 * oxload.c - load generator and probe for oxprofd, speaking the real
 * protocol over real sockets, through the oxp library (proto/include/oxp/oxp.h).
 *
 *   oxload ingest --socket S -a AGENTS [-t SECS] [-w WARMUP] [-s STACKS]
 *          [-c COUNT] [-p POOL] [-d DEPTH] [--daemon-pid PID]
 *       AGENTS processes (one connection each, so each has its own pid as
 *       the daemon sees it through SO_PEERCRED) say HELLO as agents, then
 *       stream SAMPLES batches of STACKS stacks x COUNT samples drawn from
 *       a pool of POOL distinct stacks per agent, DEPTH frames deep, with
 *       one batch in flight per connection (the next is sent after the
 *       SAMPLES_ACK, as the real agent does).  Strings, frames and threads
 *       are defined the first time a connection uses them.  After WARMUP
 *       seconds, counts acknowledged samples for SECS seconds and, given
 *       the daemon's pid, its CPU time and RSS over that window.
 *
 *   oxload fill --socket S -u UNIQUE [-d DEPTH] [-s STACKS]
 *       One agent sends UNIQUE distinct stacks (count 1 each) and waits for
 *       the last acknowledgement: an aggregate of UNIQUE unique stacks.
 *
 *   oxload idle --socket S -a AGENTS [-t SECS] [--daemon-pid PID]
 *       AGENTS agents connect and send one 1-stack batch each, then hold
 *       the connection: daemon RSS before and after, per agent.
 *
 *   oxload query --socket S [-b function|stack|thread] [-l LIMIT] [-r REPS]
 *          [-P 1]
 *       A control connection runs the query REPS times and prints the
 *       latency of each (COMMAND sent -> REPLY received), rows and bytes.
 *       With -P 1 the rows of the last repetition are printed too, one per
 *       line: "row<TAB>pid<TAB>tid<TAB>self<TAB>total<TAB>name".
 *
 *   oxload status --socket S
 *       One line per agent row of STATUS: pid, state, samples accepted,
 *       dropped by agent / daemon, the agent's taken / sent, achieved Hz.
 *
 *   oxload cmd --socket S -x start|stop|pause|unpause|reset [-f HZ]
 *       One fleet command (start with HZ), for the benchmark driver, so it
 *       does not depend on oxprofctl's flags.
 *
 * Output: key=value lines on stdout; errors on stderr, exit status 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oxp/oxp.h"
#include "oxload.h"


/* ---- ingest ---- */

static void ingest_child(const struct opts *o, struct shared *sh, int idx)
{
	struct conn c;
	int r = hello(&c, o->socket, OXP_ROLE_AGENT);
	if (r < 0) {
		atomic_store(&sh->s[idx].state, -1);
		die("connect/HELLO", r);
	}
	atomic_store(&sh->s[idx].state, 1);
	unsigned nfuncs = 4096, D = o->depth;
	struct gen g;
	gen_init(&g, nfuncs, o->stacks, D);
	uint32_t *ids = calloc(D, sizeof(*ids));
	unsigned next = 0;
	uint64_t salt = mix((uint64_t)idx * 7919u + 1);
	while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
		gen_reset(&g);
		for (unsigned k = 0; k < o->stacks; k++) {
			unsigned j = next++ % o->pool;
			/* root side fixed, the rest a function of (agent, j) */
			for (unsigned d = 0; d < D; d++) {
				if (d >= D - FN_ROOTS)
					ids[d] = D - 1 - d; /* _start, main, worker_loop */
				else
					ids[d] = FN_ROOTS + (uint32_t)(mix(salt ^ ((uint64_t)j << 16) ^ d) %
								   (nfuncs - FN_ROOTS));
			}
			add_stack(&g, ids, D, j, o->count);
		}
		uint64_t acc = 0, ref = 0;
		r = send_batch(&c, &g, (uint64_t)o->stacks * o->count, &acc, &ref);
		if (r < 0) {
			atomic_store(&sh->s[idx].state, -1);
			die("SAMPLES", r);
		}
		atomic_fetch_add_explicit(&sh->s[idx].accepted, acc, memory_order_relaxed);
		atomic_fetch_add_explicit(&sh->s[idx].refused, ref, memory_order_relaxed);
		atomic_fetch_add_explicit(&sh->s[idx].batches, 1, memory_order_relaxed);
	}
	atomic_store(&sh->s[idx].state, 2);
	exit(0);
}


static int run_ingest(const struct opts *o)
{
	long rss0 = o->daemon_pid ? proc_status_kb(o->daemon_pid, "VmRSS") : -1;
	struct shared *sh = spawn(o, ingest_child);
	if (!sh) {
		reap(o->agents);
		return 1;
	}
	sleep_s(o->warmup);
	uint64_t a0, r0, b0, a1, r1, b1;
	double c0 = o->daemon_pid ? proc_cpu_s(o->daemon_pid) : -1;
	double t0 = now_s();
	sum_slots(sh, o->agents, &a0, &r0, &b0);
	sleep_s(o->secs);
	sum_slots(sh, o->agents, &a1, &r1, &b1);
	double t1 = now_s();
	double c1 = o->daemon_pid ? proc_cpu_s(o->daemon_pid) : -1;
	long rss = o->daemon_pid ? proc_status_kb(o->daemon_pid, "VmRSS") : -1;
	long hwm = o->daemon_pid ? proc_status_kb(o->daemon_pid, "VmHWM") : -1;
	atomic_store(&sh->stop, 1);
	int bad = reap(o->agents);
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	double gen_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
			 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
	double dt = t1 - t0;
	printf("mode=ingest agents=%d secs=%.3f stacks_per_batch=%u count=%u depth=%u pool=%u "
	       "samples_per_s=%.0f stacks_per_s=%.0f batches_per_s=%.1f refused_per_s=%.0f "
	       "daemon_cpu_pct=%.1f daemon_rss_kb=%ld daemon_rss0_kb=%ld daemon_hwm_kb=%ld "
	       "gen_cpu_s=%.2f failed_agents=%d\n",
	       o->agents, dt, o->stacks, o->count, o->depth, o->pool,
	       (double)(a1 - a0) / dt, (double)(a1 - a0) / o->count / dt,
	       (double)(b1 - b0) / dt, (double)(r1 - r0) / dt,
	       c0 >= 0 && c1 >= 0 ? 100.0 * (c1 - c0) / dt : -1.0, rss, rss0, hwm,
	       gen_cpu, bad);
	return bad ? 1 : 0;
}

/* ---- idle: per-agent memory ---- */

static void idle_child(const struct opts *o, struct shared *sh, int idx)
{
	struct conn c;
	int r = hello(&c, o->socket, OXP_ROLE_AGENT);
	if (r < 0) {
		atomic_store(&sh->s[idx].state, -1);
		die("connect/HELLO", r);
	}
	struct gen g;
	gen_init(&g, 8, 1, 4);
	uint32_t ids[4] = { 3, 2, 1, 0 };
	add_stack(&g, ids, 4, 0, 1);
	uint64_t acc = 0, ref = 0;
	if ((r = send_batch(&c, &g, 1, &acc, &ref)) < 0) {
		atomic_store(&sh->s[idx].state, -1);
		die("SAMPLES", r);
	}
	atomic_fetch_add(&sh->s[idx].accepted, acc);
	atomic_store(&sh->s[idx].state, 1);
	while (!atomic_load(&sh->stop))
		usleep(20000);
	exit(0);
}

static int run_idle(const struct opts *o)
{
	long rss0 = o->daemon_pid ? proc_status_kb(o->daemon_pid, "VmRSS") : -1;
	struct shared *sh = spawn(o, idle_child);
	if (!sh) {
		reap(o->agents);
		return 1;
	}
	sleep_s(o->secs);
	long rss1 = o->daemon_pid ? proc_status_kb(o->daemon_pid, "VmRSS") : -1;
	atomic_store(&sh->stop, 1);
	int bad = reap(o->agents);
	printf("mode=idle agents=%d daemon_rss0_kb=%ld daemon_rss_kb=%ld per_agent_kb=%.1f failed_agents=%d\n",
	       o->agents, rss0, rss1,
	       rss0 >= 0 && rss1 >= 0 ? (double)(rss1 - rss0) / o->agents : -1.0, bad);
	return bad ? 1 : 0;
}

/* ---- fill: many unique stacks ---- */

static int run_fill(const struct opts *o)
{
	struct conn c;
	int r = hello(&c, o->socket, OXP_ROLE_AGENT);
	if (r < 0)
		die("connect/HELLO", r);
	unsigned D = o->depth < 8 ? 8 : o->depth;
	/* leaf: 3 + i%1000; next 1003 + (i/1000)%1000; next 2003 + (i/1e6)%1000;
	 * then fixed middle frames 3003..; root 2,1,0. */
	unsigned nfuncs = 3003 + D;
	struct gen g;
	gen_init(&g, nfuncs, o->stacks, D);
	uint32_t *ids = calloc(D, sizeof(*ids));
	uint64_t sent = 0, acc_all = 0, ref_all = 0;
	double t0 = now_s();
	while (sent < o->unique) {
		gen_reset(&g);
		unsigned n = 0;
		for (; n < o->stacks && sent < o->unique; n++, sent++) {
			uint64_t i = sent;
			ids[0] = 3 + (uint32_t)(i % 1000);
			ids[1] = 1003 + (uint32_t)((i / 1000) % 1000);
			ids[2] = 2003 + (uint32_t)((i / 1000000) % 1000);
			for (unsigned d = 3; d < D - FN_ROOTS; d++)
				ids[d] = 3003 + d;
			for (unsigned d = D - FN_ROOTS; d < D; d++)
				ids[d] = D - 1 - d;
			add_stack(&g, ids, D, (unsigned)(i & 3), 1);
		}
		uint64_t acc = 0, ref = 0;
		if ((r = send_batch(&c, &g, n, &acc, &ref)) < 0)
			die("SAMPLES", r);
		acc_all += acc;
		ref_all += ref;
	}
	double dt = now_s() - t0;
	printf("mode=fill unique=%" PRIu64 " depth=%u secs=%.3f accepted=%" PRIu64
	       " refused=%" PRIu64 " stacks_per_s=%.0f\n",
	       o->unique, D, dt, acc_all, ref_all, (double)sent / dt);
	close(c.fd);
	return ref_all ? 3 : 0;
}

/* ---- query latency ---- */

static int run_query(const struct opts *o)
{
	struct conn c;
	int r = hello(&c, o->socket, OXP_ROLE_CONTROL);
	if (r < 0)
		die("connect/HELLO (control)", r);
	uint8_t by = !strcmp(o->by, "stack") ? OXP_BY_STACK
		   : !strcmp(o->by, "thread") ? OXP_BY_THREAD : OXP_BY_FUNCTION;
	for (unsigned rep = 0; rep < o->reps; rep++) {
		struct oxp_msg m = { .type = OXP_MSG_COMMAND };
		m.u.command.cmd = OXP_CMD_QUERY;
		m.u.command.mode = 0xff;
		m.u.command.by = by;
		m.u.command.sort = OXP_SORT_SELF;
		m.u.command.limit = o->limit;
		double t0 = now_s();
		if ((r = send_msg(&c, &m)) < 0)
			die("COMMAND", r);
		uint64_t rows = 0, bytes = 0, total = 0;
		double t_head = -1;
		for (;;) {
			struct oxp_msg in;
			if ((r = oxp_recv_msg(c.fd, &c.rd, c.dec, &in, 120000)) < 0)
				die("query reply", r);
			if (in.type == OXP_MSG_QUERY_HEAD) {
				t_head = now_s();
				total = in.u.query_head.total;
			} else if (in.type == OXP_MSG_QUERY_ROWS) {
				rows += in.u.query_rows.nrows;
				for (uint32_t i = 0; i < in.u.query_rows.nrows; i++) {
					const struct oxp_row *w = &in.u.query_rows.rows[i];
					bytes += w->name.len;
					if (o->print && rep + 1 == o->reps)
						printf("row\t%d\t%d\t%" PRIu64 "\t%" PRIu64 "\t%.*s\n",
						       (int)w->pid, (int)w->tid, w->self, w->total,
						       (int)w->name.len, w->name.ptr);
				}
			} else if (in.type == OXP_MSG_REPLY) {
				if (in.u.reply.code < 0) {
					fprintf(stderr, "oxload: query: %.*s\n",
						(int)in.u.reply.message.len,
						in.u.reply.message.ptr);
					return 1;
				}
				break;
			} else if (in.type == OXP_MSG_ERROR) {
				fprintf(stderr, "oxload: query error: %.*s\n",
					(int)in.u.error.message.len, in.u.error.message.ptr);
				return 1;
			}
		}
		double t1 = now_s();
		printf("mode=query by=%s limit=%u rep=%u ms=%.3f head_ms=%.3f rows=%" PRIu64
		       " name_bytes=%" PRIu64 " total=%" PRIu64 "\n",
		       o->by, o->limit, rep, (t1 - t0) * 1e3,
		       t_head >= 0 ? (t_head - t0) * 1e3 : -1.0, rows, bytes, total);
		fflush(stdout);
	}
	close(c.fd);
	return 0;
}

/* ---- status: per-agent accounting ---- */

static int run_status(const struct opts *o)
{
	struct conn c;
	int r = hello(&c, o->socket, OXP_ROLE_CONTROL);
	if (r < 0)
		die("connect/HELLO (control)", r);
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command.cmd = OXP_CMD_STATUS;
	m.u.command.mode = 0xff;
	if ((r = send_msg(&c, &m)) < 0)
		die("COMMAND", r);
	for (;;) {
		struct oxp_msg in;
		if ((r = oxp_recv_msg(c.fd, &c.rd, c.dec, &in, TIMEOUT_MS)) < 0)
			die("status reply", r);
		if (in.type == OXP_MSG_STATUS) {
			const struct oxp_status *st = &in.u.status;
			for (uint32_t i = 0; i < st->nagents; i++) {
				const struct oxp_agent_row *a = &st->agents[i];
				printf("agent pid=%d state=%u samples=%" PRIu64 " dropped_agent=%" PRIu64
				       " dropped_daemon=%" PRIu64 " taken=%" PRIu64 " sent=%" PRIu64
				       " hz_achieved=%.1f\n", (int)a->pid, a->state, a->samples,
				       a->dropped_agent, a->dropped_daemon, a->taken, a->sent,
				       a->hz_achieved);
			}
		} else if (in.type == OXP_MSG_REPLY || in.type == OXP_MSG_ERROR) {
			close(c.fd);
			return in.type == OXP_MSG_REPLY && in.u.reply.code == 0 ? 0 : 1;
		}
	}
}

/* ---- one fleet command ---- */

static int run_cmd(const struct opts *o)
{
	static const struct { const char *name; uint8_t cmd; } cmds[] = {
		{ "start", OXP_CMD_START }, { "stop", OXP_CMD_STOP },
		{ "pause", OXP_CMD_PAUSE }, { "unpause", OXP_CMD_UNPAUSE },
		{ "reset", OXP_CMD_RESET },
	};
	uint8_t cmd = 0;
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (o->cmd && !strcmp(o->cmd, cmds[i].name))
			cmd = cmds[i].cmd;
	if (!cmd) {
		fprintf(stderr, "oxload: -x start|stop|pause|unpause|reset\n");
		return 2;
	}
	struct conn c;
	int r = hello(&c, o->socket, OXP_ROLE_CONTROL);
	if (r < 0)
		die("connect/HELLO (control)", r);
	struct oxp_msg m = { .type = OXP_MSG_COMMAND };
	m.u.command.cmd = cmd;
	m.u.command.hz = cmd == OXP_CMD_START ? o->hz : 0;
	m.u.command.mode = 0xff;
	if ((r = send_msg(&c, &m)) < 0)
		die("COMMAND", r);
	for (;;) {
		struct oxp_msg in;
		if ((r = oxp_recv_msg(c.fd, &c.rd, c.dec, &in, TIMEOUT_MS)) < 0)
			die("reply", r);
		if (in.type == OXP_MSG_ERROR || in.type == OXP_MSG_REPLY) {
			int code = in.type == OXP_MSG_REPLY ? in.u.reply.code : in.u.error.code;
			struct oxp_str msg = in.type == OXP_MSG_REPLY ? in.u.reply.message
								     : in.u.error.message;
			printf("mode=cmd cmd=%s code=%d affected=%u message=%.*s\n", o->cmd,
			       code, in.type == OXP_MSG_REPLY ? in.u.reply.affected : 0,
			       (int)msg.len, msg.ptr);
			close(c.fd);
			return code < 0 ? 1 : 0;
		}
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: oxload ingest|fill|idle|query|status|cmd --socket PATH [-a agents] [-t secs]\n"
		"       [-w warmup] [-s stacks/batch] [-c count] [-p pool] [-d depth]\n"
		"       [-u unique] [-b function|stack|thread] [-l limit] [-r reps]\n"
		"       [-P 1] [-x command] [-f hz] [--daemon-pid PID]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .agents = 10, .secs = 5, .warmup = 1, .stacks = 256,
			  .count = 4, .pool = 1024, .depth = 24, .unique = 10000,
			  .by = "function", .limit = 50, .reps = 5, .hz = 100 };
	if (argc < 2)
		usage();
	o.mode = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--socket")) o.socket = v;
		else if (!strcmp(a, "--daemon-pid")) o.daemon_pid = atoi(v);
		else if (!strcmp(a, "-a")) o.agents = atoi(v);
		else if (!strcmp(a, "-t")) o.secs = atof(v);
		else if (!strcmp(a, "-w")) o.warmup = atof(v);
		else if (!strcmp(a, "-s")) o.stacks = (unsigned)atoi(v);
		else if (!strcmp(a, "-c")) o.count = (unsigned)atoi(v);
		else if (!strcmp(a, "-p")) o.pool = (unsigned)atoi(v);
		else if (!strcmp(a, "-d")) o.depth = (unsigned)atoi(v);
		else if (!strcmp(a, "-u")) o.unique = strtoull(v, NULL, 10);
		else if (!strcmp(a, "-b")) o.by = v;
		else if (!strcmp(a, "-l")) o.limit = (unsigned)atoi(v);
		else if (!strcmp(a, "-r")) o.reps = (unsigned)atoi(v);
		else if (!strcmp(a, "-P")) o.print = atoi(v);
		else if (!strcmp(a, "-x")) o.cmd = v;
		else if (!strcmp(a, "-f")) o.hz = (unsigned)atoi(v);
		else usage();
		i++;
	}
	if (!o.socket || o.agents < 1 || o.stacks < 1 || o.stacks > 8192 ||
	    o.count < 1 || o.pool < 1 || o.depth < 4 || o.depth > 256)
		usage();
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(o.mode, "ingest"))
		return run_ingest(&o);
	if (!strcmp(o.mode, "idle"))
		return run_idle(&o);
	if (!strcmp(o.mode, "fill"))
		return run_fill(&o);
	if (!strcmp(o.mode, "query"))
		return run_query(&o);
	if (!strcmp(o.mode, "cmd"))
		return run_cmd(&o);
	if (!strcmp(o.mode, "status"))
		return run_status(&o);
	usage();
	return 2;
}
