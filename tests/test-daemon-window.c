/*
 * test-daemon-window.c - the time axis (issue 15): samples land in time
 * slots by when they were taken, old slots merge into coarser ones with
 * exact counts, the history keeps to its budget and survives a snapshot,
 * and queries take a window (--since/--until).
 *
 * The store cases link the store alone and inject time (the taken span of
 * a batch and the "now" of ingest), so a long history costs no waiting;
 * the daemon cases use the real oxprofd, the fake agent (which stamps its
 * batches' first_ms/last_ms), the real oxprofctl, and the real agent.
 * No case asserts on timing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent-harness.h"
#include "agg.h"
#include "daemon-harness.h"
#include "query.h"
#include "snapshot.h"
#include "task.h"

#define MIB (1024ull * 1024)
#define T0 1764662400000ull /* 2025-12-02 08:00:00 UTC: a multiple of 10 min */

/* ---- the store alone ---- */

/* One batch of stacks over names (string id i + 1 = frame id i + 1). */
struct batch {
	struct oxp_str_def strs[80];
	struct oxp_frame_def frames[80];
	struct oxp_thread_def threads[4];
	struct oxp_stack stacks[64];
	uint32_t fr[64][4];
	struct oxp_samples s;
};

static const char *NAMES[64];
static char name_buf[64][16];

static void names_init(void)
{
	for (int i = 0; i < 64; i++) {
		snprintf(name_buf[i], sizeof(name_buf[i]), "fn%02d", i);
		NAMES[i] = name_buf[i];
	}
}

/* The first batch of a connection defines every name and thread tid. */
static void batch_init(struct batch *b, int define, uint32_t tid)
{
	memset(b, 0, sizeof(*b));
	b->s.stats.source = oxp_str_c("test");
	b->s.stacks = b->stacks;
	if (!define)
		return;
	b->strs[0] = (struct oxp_str_def){ 0, oxp_str_c("libt.so") };
	for (uint32_t i = 0; i < 64; i++) {
		b->strs[i + 1] = (struct oxp_str_def){ i + 1, oxp_str_c(NAMES[i]) };
		b->frames[i] = (struct oxp_frame_def){ i + 1, i + 1, 0, 0x100 * (i + 1) };
	}
	b->threads[0] = (struct oxp_thread_def){ tid, 1 };
	b->s.nstrings = 65;
	b->s.strings = b->strs;
	b->s.nframes = 64;
	b->s.frames = b->frames;
	b->s.nthreads = 1;
	b->s.threads = b->threads;
}

/* leaf NAMES[leaf] under NAMES[parent], count times. */
static void batch_stack2(struct batch *b, uint32_t tid, uint32_t leaf, uint32_t parent,
			 uint64_t count)
{
	uint32_t k = b->s.nstacks++;
	b->fr[k][0] = leaf + 1;
	b->fr[k][1] = parent + 1;
	b->stacks[k] = (struct oxp_stack){ tid, 0, count, leaf != parent ? 2 : 1, b->fr[k] };
}

/* leaf NAMES[leaf] under NAMES[0]. */
static void batch_stack(struct batch *b, uint32_t tid, uint32_t leaf, uint64_t count)
{
	batch_stack2(b, tid, leaf, 0, count);
}

static uint32_t attach(struct oxd_agg *a, int32_t pid, const char *exe)
{
	struct oxd_ident id = { .pid = pid, .uid = 1000, .exe = oxp_str_c(exe),
				.cmdline = oxp_str_c(exe) };
	uint32_t proc;
	ASSERT_EQ(oxd_agg_proc_attach(a, &id, T0, &proc), 0);
	return proc;
}

/* Ingest b as taken at [first, last], arriving at now. */
static uint64_t ingest(struct oxd_agg *a, struct oxd_ingest *g, struct batch *b,
		       uint64_t first, uint64_t last, uint64_t now)
{
	b->s.first_ms = first;
	b->s.last_ms = last;
	uint64_t acc, ref;
	ASSERT_EQ(oxd_agg_ingest(a, g, &b->s, now, &acc, &ref), 0);
	ASSERT_EQ(ref, 0);
	return acc;
}

/* The samples a query counts (its head's total), and its head. */
static uint64_t qtotal(struct oxd_agg *a, uint64_t since, uint64_t until, int32_t pid,
		       struct oxp_query_head *h)
{
	struct oxp_command c = { .cmd = OXP_CMD_QUERY, .mode = 0xff, .since_ms = since,
				 .until_ms = until };
	if (pid) {
		c.sel.npids = 1;
		c.sel.pids = &pid;
	}
	struct oxd_query *q;
	ASSERT_EQ(oxd_query_new(a, &c, &q), 0);
	struct oxp_query_head hh;
	oxd_query_head(q, &hh);
	oxd_query_free(q);
	if (h)
		*h = hh;
	return hh.total;
}

/* The slots and the cells each add up to what the aggregate holds, less
 * what the history had to drop. */
static void check_sums(const struct oxd_agg *a)
{
	uint64_t slots = 0, cells = 0;
	for (size_t i = 0; i < a->hist.nslots; i++) {
		slots += a->hist.slots[i].samples;
		if (i)
			ASSERT(a->hist.slots[i - 1].start + a->hist.slots[i - 1].width <=
			       a->hist.slots[i].start);
	}
	for (size_t i = 0; i < a->hist.ncells; i++)
		cells += a->hist.cells[i].count;
	ASSERT_EQ(slots, cells);
	ASSERT_EQ(slots + a->hist.dropped_samples, a->samples);
}

/* Samples go in the slot of the batch's taken time, not its arrival; a
 * batch held over an outage lands where it was taken; windows pick them,
 * and combine with a selector. */
TEST(window_store_places_by_taken_time)
{
	names_init();
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	uint32_t p1 = attach(&a, 100, "/usr/bin/x"), p2 = attach(&a, 200, "/usr/bin/y");
	struct oxd_ingest g1, g2;
	oxd_ingest_init(&g1, p1);
	oxd_ingest_init(&g2, p2);
	struct batch b;
	batch_init(&b, 1, 7);
	batch_stack(&b, 7, 1, 5);
	/* Taken at T0 + 1..2 s, arriving 25 s later (a daemon restart). */
	ASSERT_EQ(ingest(&a, &g1, &b, T0 + 1000, T0 + 2000, T0 + 27000), 5);
	batch_init(&b, 0, 7);
	batch_stack(&b, 7, 2, 3);
	ASSERT_EQ(ingest(&a, &g1, &b, T0 + 25000, T0 + 26000, T0 + 27000), 3);
	batch_init(&b, 1, 9);
	batch_stack(&b, 9, 3, 11);
	ASSERT_EQ(ingest(&a, &g2, &b, T0 + 21000, T0 + 22000, T0 + 27000), 11);
	/* Taken "in the future" (a clock ahead): now's slot. */
	batch_init(&b, 0, 9);
	batch_stack(&b, 9, 3, 2);
	ASSERT_EQ(ingest(&a, &g2, &b, T0 + 90000, T0 + 95000, T0 + 28000), 2);
	ASSERT_EQ(a.hist.nslots, 2);
	ASSERT_EQ(a.hist.slots[0].start, T0 / 1000);
	ASSERT_EQ(a.hist.slots[0].width, 10);
	ASSERT_EQ(a.hist.slots[1].start, T0 / 1000 + 20);
	check_sums(&a);
	struct oxp_query_head h;
	ASSERT_EQ(qtotal(&a, T0, T0 + 10000, 0, &h), 5);
	ASSERT_EQ(h.since_ms, T0);
	ASSERT_EQ(h.until_ms, T0 + 10000);
	ASSERT_EQ(h.nprocs, 1);
	ASSERT_EQ(qtotal(&a, T0 + 10000, T0 + 20000, 0, &h), 0);
	ASSERT_EQ(qtotal(&a, T0 + 20000, 0, 0, &h), 16);
	ASSERT_EQ(h.since_ms, T0 + 20000);
	ASSERT_EQ(h.until_ms, T0 + 30000);
	ASSERT_EQ(qtotal(&a, T0 + 20000, 0, 100, NULL), 3);
	ASSERT_EQ(qtotal(&a, T0 + 20000, 0, 200, NULL), 13);
	ASSERT_EQ(qtotal(&a, 0, T0 + 1, 200, NULL), 0);
	/* A window inside a slot takes the whole slot, and says so. */
	ASSERT_EQ(qtotal(&a, T0 + 3000, T0 + 4000, 0, &h), 5);
	ASSERT_EQ(h.since_ms, T0);
	/* No window: the cumulative answer, as before. */
	ASSERT_EQ(qtotal(&a, 0, 0, 0, &h), 21);
	ASSERT_EQ(h.since_ms, 0);
	ASSERT_EQ(h.until_ms, 0);
	/* by=function in a window: one row per function, exact counts. */
	struct oxp_command c = { .cmd = OXP_CMD_QUERY, .mode = 0xff, .by = OXP_BY_FUNCTION,
				 .since_ms = T0 + 20000 };
	struct oxd_query *q;
	ASSERT_EQ(oxd_query_new(&a, &c, &q), 0);
	struct oxp_buf out;
	oxp_buf_init(&out);
	ASSERT_EQ(oxd_query_next(q, &a, &out), 0);
	struct oxp_decoder *dec;
	ASSERT_EQ(oxp_decoder_new(&dec), 0);
	struct oxp_msg m;
	ASSERT_EQ(oxp_decoder_decode(dec, out.data + OXP_FRAME_HDR, out.len - OXP_FRAME_HDR, &m,
				     NULL), 0);
	ASSERT_EQ(m.u.query_rows.nrows, 3); /* fn00 (total), fn02, fn03 */
	for (uint32_t i = 0; i < m.u.query_rows.nrows; i++) {
		const struct oxp_row *r = &m.u.query_rows.rows[i];
		if (r->name.len == 4 && !memcmp(r->name.ptr, "fn00", 4))
			ASSERT_EQ(r->total, 16);
		else if (!memcmp(r->name.ptr, "fn03", 4))
			ASSERT_EQ(r->self, 13);
		else
			ASSERT_EQ(r->self, 3);
	}
	oxp_decoder_free(dec);
	oxp_buf_destroy(&out);
	oxd_query_free(q);
	oxd_ingest_destroy(&a, &g1);
	oxd_ingest_destroy(&a, &g2);
	oxd_agg_destroy(&a);
}

static int is_pid_200(const struct oxd_proc *p, void *arg)
{
	(void)arg;
	return p->pid == 200;
}

TEST(window_store_reset_of_a_process_leaves_the_others_slots)
{
	names_init();
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	uint32_t p1 = attach(&a, 100, "/usr/bin/x"), p2 = attach(&a, 200, "/usr/bin/y");
	struct oxd_ingest g1, g2;
	oxd_ingest_init(&g1, p1);
	oxd_ingest_init(&g2, p2);
	struct batch b;
	batch_init(&b, 1, 7);
	batch_stack(&b, 7, 1, 5);
	ingest(&a, &g1, &b, T0, T0 + 1000, T0 + 1000);
	batch_init(&b, 1, 9);
	batch_stack(&b, 9, 2, 7);
	ingest(&a, &g2, &b, T0, T0 + 1000, T0 + 1000);
	batch_init(&b, 0, 9);
	batch_stack(&b, 9, 3, 4);
	ingest(&a, &g2, &b, T0 + 30000, T0 + 31000, T0 + 31000);
	batch_init(&b, 0, 7);
	batch_stack(&b, 7, 4, 6);
	ingest(&a, &g1, &b, T0 + 50000, T0 + 51000, T0 + 51000);
	ASSERT_EQ(a.hist.nslots, 3);
	uint64_t mem = a.mem_used;
	ASSERT_EQ(oxd_agg_reset(&a, is_pid_200, NULL), 1);
	check_sums(&a);
	ASSERT_EQ(a.hist.nslots, 2); /* T0 + 30 s held pid 200's only */
	ASSERT_EQ(qtotal(&a, T0, T0 + 10000, 0, NULL), 5);
	ASSERT_EQ(qtotal(&a, T0 + 40000, 0, 0, NULL), 6);
	ASSERT(a.mem_used < mem);
	oxd_agg_reset(&a, NULL, NULL);
	ASSERT_EQ(a.hist.nslots, 0);
	ASSERT_EQ(a.hist.ncells, 0);
	ASSERT_EQ(a.hist.mem, 0);
	oxd_ingest_destroy(&a, &g1);
	oxd_ingest_destroy(&a, &g2);
	oxd_agg_destroy(&a);
}

/* Two days of a batch every 10 s: slots older than an hour merge into
 * minutes, older than a day into 10 minutes; every count stays exact. */
TEST(window_store_merges_old_slots_exactly)
{
	names_init();
	struct oxd_agg a;
	oxd_agg_init(&a, 256 * MIB, 64 * MIB);
	uint32_t p = attach(&a, 100, "/usr/bin/x");
	struct oxd_ingest g;
	oxd_ingest_init(&g, p);
	struct batch b;
	const uint64_t n = 2 * 8640; /* two days of 10 s */
	for (uint64_t i = 0; i < n; i++) {
		batch_init(&b, i == 0, 7);
		/* Leaf i % 8, i % 3 + 1 samples: windows have known sums. */
		batch_stack(&b, 7, (uint32_t)(i % 8), i % 3 + 1);
		uint64_t t = T0 + i * 10000;
		ingest(&a, &g, &b, t + 500, t + 1500, t + 2000);
	}
	uint64_t now = T0 + n * 10000;
	oxd__hist_compact(&a, now);
	check_sums(&a);
	ASSERT_EQ(a.hist.dropped_samples, 0);
	ASSERT(a.hist.merged > 0);
	/* About 360 fine + 23 h of minutes + a day of 10 minutes. */
	printf("  %zu slots, %zu cells, %llu bytes; %llu merged\n", a.hist.nslots,
	       a.hist.ncells, (unsigned long long)a.hist.mem, (unsigned long long)a.hist.merged);
	ASSERT(a.hist.nslots < 360 + 23 * 60 + 6 * 24 + 10);
	ASSERT(a.hist.nslots > 360 + 23 * 60);
	ASSERT_EQ(a.hist.slots[0].width, 600);
	ASSERT_EQ(a.hist.slots[a.hist.nslots - 1].width, 10);
	/* The whole history is the cumulative profile. */
	ASSERT_EQ(qtotal(&a, T0, 0, 0, NULL), a.samples);
	ASSERT_EQ(qtotal(&a, 1, now, 0, NULL), a.samples);
	/* Any window on slot boundaries: the samples of the batches in it
	 * (batch i, counted i % 3 + 1, sits in the slot of T0 + 10 i s). */
	const uint64_t win[][2] = { { 0, 600 }, { 3000, 9000 }, { 8640, 8640 + 60 },
				    { 16000, 16000 + 60 }, { n - 10, n - 1 }, { 12345, 16789 } };
	for (size_t k = 0; k < sizeof(win) / sizeof(win[0]); k++) {
		uint64_t since = T0 + win[k][0] * 10000, until = T0 + win[k][1] * 10000;
		struct oxp_query_head h;
		uint64_t got = qtotal(&a, since, until, 0, &h);
		/* The slots it covers, by the head: the batches in them. */
		uint64_t want = 0;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t t = T0 + i * 10000 + 1500;
			if (t >= h.since_ms && t < h.until_ms)
				want += i % 3 + 1;
		}
		ASSERT_MSG(got == want, "window %zu: %llu, want %llu", k, (unsigned long long)got,
			   (unsigned long long)want);
		ASSERT(h.since_ms <= since && h.until_ms >= until);
	}
	oxd_ingest_destroy(&a, &g);
	oxd_agg_destroy(&a);
}

/*
 * A small history budget, 2000 slots of 64 stacks.  Stacks that recur:
 * the history makes slots coarser early (a coarse slot holds a stack once)
 * and drops nothing.  Stacks that change from slot to slot (64 x 64 of
 * them): it drops its oldest slots, counted.  Either way it stays under
 * its budget, and the aggregate keeps every sample.
 */
static void budget_case(int varying)
{
	names_init();
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 64 * MIB);
	const uint32_t w[3] = { 10, 60, 600 }, k[2] = { 3600, 86400 };
	const uint64_t budget = 256u << 10;
	oxd_hist_config(&a, w, k, budget);
	uint32_t p = attach(&a, 100, "/usr/bin/x");
	struct oxd_ingest g;
	oxd_ingest_init(&g, p);
	struct batch b;
	uint64_t peak = 0;
	for (uint64_t i = 0; i < 2000; i++) {
		batch_init(&b, i == 0, 7);
		for (uint32_t s = 0; s < 64; s++)
			batch_stack2(&b, 7, s, varying ? (uint32_t)((i * 7 + s) % 64) : 0, 1);
		uint64_t t = T0 + i * 10000;
		ingest(&a, &g, &b, t, t + 1000, t + 1000);
		if (a.hist.mem > peak)
			peak = a.hist.mem;
		ASSERT(oxd_agg_mem_total(&a) <= a.mem_budget);
	}
	printf("  history: %zu slots, %zu cells, peak %llu of %llu bytes; merged %llu, "
	       "dropped %llu slots, %llu samples\n", a.hist.nslots, a.hist.ncells,
	       (unsigned long long)peak, (unsigned long long)budget,
	       (unsigned long long)a.hist.merged, (unsigned long long)a.hist.dropped_slots,
	       (unsigned long long)a.hist.dropped_samples);
	ASSERT(peak <= budget);
	ASSERT(a.hist.merged > 0);
	if (varying)
		ASSERT(a.hist.dropped_slots > 0);
	else
		ASSERT_EQ(a.hist.dropped_samples, 0);
	ASSERT_EQ(a.samples, 2000 * 64);
	check_sums(&a);
	ASSERT_EQ(a.dropped, 0);
	/* The newest slot is whole. */
	uint64_t last = T0 + 1999 * 10000;
	ASSERT_EQ(qtotal(&a, last, 0, 0, NULL), 64);
	ASSERT_EQ(qtotal(&a, 0, 0, 0, NULL), 2000 * 64);
	if (!varying)
		ASSERT_EQ(qtotal(&a, 1, 0, 0, NULL), 2000 * 64);
	oxd_ingest_destroy(&a, &g);
	oxd_agg_destroy(&a);
}

TEST(window_store_history_keeps_its_budget_by_merging)
{
	budget_case(0);
}

TEST(window_store_history_keeps_its_budget_by_dropping)
{
	budget_case(1);
}

/* A snapshot (format 5) keeps the slots, their cells and the counters. */
TEST(window_store_snapshot_keeps_slots)
{
	names_init();
	char dir[512];
	oxt_mkdtemp(dir, sizeof(dir), "snap");
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	uint32_t p = attach(&a, 100, "/usr/bin/x");
	struct oxd_ingest g;
	oxd_ingest_init(&g, p);
	struct batch b;
	for (uint64_t i = 0; i < 1000; i++) {
		batch_init(&b, i == 0, 7);
		batch_stack(&b, 7, (uint32_t)(i % 5), i % 4 + 1);
		uint64_t t = T0 + i * 10000;
		ingest(&a, &g, &b, t, t + 1000, t + 1000);
	}
	oxd__hist_compact(&a, T0 + 1000 * 10000);
	ASSERT(a.hist.merged > 0);
	uint64_t bytes;
	ASSERT_EQ(oxd_snapshot_write(&a, dir, &bytes), 0);
	struct oxd_agg c;
	oxd_agg_init(&c, 64 * MIB, 16 * MIB);
	ASSERT_EQ(oxd_snapshot_load(&c, dir), 1);
	ASSERT_EQ(c.hist.nslots, a.hist.nslots);
	ASSERT_EQ(c.hist.ncells, a.hist.ncells);
	ASSERT_EQ(c.hist.merged, a.hist.merged);
	for (size_t i = 0; i < a.hist.nslots; i++) {
		ASSERT_EQ(c.hist.slots[i].start, a.hist.slots[i].start);
		ASSERT_EQ(c.hist.slots[i].width, a.hist.slots[i].width);
		ASSERT_EQ(c.hist.slots[i].samples, a.hist.slots[i].samples);
	}
	check_sums(&c);
	for (uint64_t s = 0; s < 1000; s += 97) {
		uint64_t since = T0 + s * 10000, until = since + 333 * 10000;
		ASSERT_EQ(qtotal(&c, since, until, 0, NULL), qtotal(&a, since, until, 0, NULL));
	}
	ASSERT_EQ(c.mem_used, a.mem_used);
	oxd_agg_destroy(&c);
	oxd_ingest_destroy(&a, &g);
	oxd_agg_destroy(&a);
}

/* ---- the daemon ---- */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int run(char *const argv[], const char *out)
{
	fflush(NULL);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		ASSERT(errno == EINTR);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	ASSERT_MSG(f, "cannot open %s", path);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

/* oxprofctl query ARGS... (NULL-terminated) into the case's dir; returns
 * its output (static) and *code its exit status. */
static char *ctl(const struct oxt_daemon *d, int *code, ...)
{
	char *argv[32] = { OXPROFCTL_PATH, "--socket", (char *)d->sock };
	int n = 3;
	va_list ap;
	va_start(ap, code);
	while ((argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	char out[600];
	snprintf(out, sizeof(out), "%s/ctl.out", oxt_case_dir());
	*code = run(argv, out);
	return slurp(out);
}

/* "total": N of a query --json output. */
static long json_total(const char *j)
{
	const char *p = strstr(j, "\"total\": ");
	ASSERT_MSG(p, "no total in %s", j);
	return strtol(p + 9, NULL, 10);
}

static void send_at(struct oxt_agent *ag, uint32_t tid, const char *tname, const char *folded,
		    uint32_t count, uint64_t taken)
{
	oxt_agent_add(ag, tid, tname, folded, count);
	ag->first_ms = taken - 500;
	ag->last_ms = taken;
	struct oxp_samples_ack ack;
	ASSERT_EQ(oxt_agent_flush(ag, &ack), 0);
	ASSERT_EQ(ack.accepted, count);
}

/* A local time for --since/--until: "2026-12-02T14:00:03" (full) or
 * "14:00:03". */
static const char *local(uint64_t ms, int full)
{
	static char buf[4][32];
	static int k;
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	localtime_r(&t, &tm);
	char *b = buf[k++ % 4];
	strftime(b, sizeof(buf[0]), full ? "%Y-%m-%dT%H:%M:%S" : "%H:%M:%S", &tm);
	return b;
}

/*
 * The daemon takes no taken-time before the process started (a second's
 * slack): the case waits until it is a few seconds old, then stamps three
 * batches in three seconds past, with 1 s slots.  Returns the first
 * second's start.
 */
static uint64_t stamp_three(struct oxt_agent *ag)
{
	sleep(4);
	uint64_t base = (wall_ms() - 3000) / 1000 * 1000;
	send_at(ag, 11, "old", "main;old_leaf", 7, base + 200);
	send_at(ag, 11, "old", "main;mid_leaf", 5, base + 1200);
	send_at(ag, 12, "new", "main;new_leaf", 3, base + 2200);
	send_at(ag, 13, "other", "main;new_other", 2, base + 2300);
	return base;
}

static const char *const SLOT1[] = { "--history-slot", "1", NULL };

/* --since/--until select by taken time in every format, with the
 * selectors, and the header says the window. */
TEST_TIMEOUT(window_daemon_query_since_until, 120)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, SLOT1);
	struct oxt_agent ag;
	ASSERT_EQ(oxt_agent_join(&ag, &d, "/usr/bin/winapp"), 0);
	uint64_t base = stamp_three(&ag);
	const char *s1 = local(base + 1000, 1), *s2 = local(base + 2000, 1);
	int code;
	char *o = ctl(&d, &code, "query", "--json", NULL);
	ASSERT_EQ(code, 0);
	ASSERT_EQ(json_total(o), 17);
	ASSERT(strstr(o, "\"window_since_ms\": 0,"));
	o = ctl(&d, &code, "query", "--json", "--since", s2, NULL);
	ASSERT_EQ(code, 0);
	ASSERT_EQ(json_total(o), 5);
	ASSERT(strstr(o, "new_leaf") && !strstr(o, "mid_leaf") && !strstr(o, "old_leaf"));
	char want[64];
	snprintf(want, sizeof(want), "\"window_since_ms\": %llu,",
		 (unsigned long long)(base + 2000));
	ASSERT_MSG(strstr(o, want), "%s", o);
	o = ctl(&d, &code, "query", "--json", "--since", s1, "--until", s2, NULL);
	ASSERT_EQ(code, 0);
	ASSERT_EQ(json_total(o), 5);
	ASSERT(strstr(o, "mid_leaf") && !strstr(o, "new_leaf"));
	o = ctl(&d, &code, "query", "--json", "--until", local(base + 1000, 0), NULL);
	ASSERT_EQ(code, 0);
	ASSERT_EQ(json_total(o), 7);
	o = ctl(&d, &code, "query", "--json", "--since", "1h", NULL);
	ASSERT_EQ(code, 0);
	ASSERT_EQ(json_total(o), 17);
	/* With a selector: --thread. */
	o = ctl(&d, &code, "query", "--json", "--since", s2, "--thread", "other", NULL);
	ASSERT_EQ(code, 0);
	ASSERT_EQ(json_total(o), 2);
	o = ctl(&d, &code, "query", "--json", "--since", s2, "--thread", "old", NULL);
	ASSERT_EQ(code, 1); /* no samples match: old's are older */
	ASSERT_MSG(strstr(o, "--since"), "%s", o);
	/* The table's header says the window. */
	o = ctl(&d, &code, "query", "--since", s2, NULL);
	ASSERT_EQ(code, 0);
	ASSERT_MSG(strstr(o, "\nwindow: "), "%s", o);
	ASSERT(strstr(o, "5 samples"));
	o = ctl(&d, &code, "query", "--until", "1h", NULL);
	ASSERT_EQ(code, 0);
	ASSERT_MSG(strstr(o, "no samples in this window"), "%s", o);
	/* Folded and HTML take the window too. */
	o = ctl(&d, &code, "query", "--format", "folded", "--since", s1, NULL);
	ASSERT_EQ(code, 0);
	ASSERT_MSG(strstr(o, "main;mid_leaf 5") && strstr(o, "main;new_leaf 3"), "%s", o);
	ASSERT(!strstr(o, "old_leaf"));
	o = ctl(&d, &code, "query", "--format", "html", "--since", s2, NULL);
	ASSERT_EQ(code, 0);
	ASSERT(strstr(o, "new_leaf") && !strstr(o, "mid_leaf"));
	/* Bad windows are usage errors. */
	o = ctl(&d, &code, "query", "--since", "yesterday", NULL);
	ASSERT_EQ(code, 2);
	o = ctl(&d, &code, "query", "--since", "5m", "--until", "10m", NULL);
	ASSERT_EQ(code, 2);
	/* status shows the history. */
	o = ctl(&d, &code, "status", NULL);
	ASSERT_EQ(code, 0);
	ASSERT_MSG(strstr(o, "history:  3 time slots"), "%s", o);
	oxt_agent_leave(&ag);
	oxt_daemon_finish(&d);
}

/* pprof takes the window: the window's functions only. */
TEST_TIMEOUT(window_daemon_pprof, 60)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, SLOT1);
	struct oxt_agent ag;
	ASSERT_EQ(oxt_agent_join(&ag, &d, "/usr/bin/winapp"), 0);
	uint64_t base = stamp_three(&ag);
	char pb[600];
	snprintf(pb, sizeof(pb), "%s/w.pb.gz", oxt_case_dir());
	char *argv[] = { OXPROFCTL_PATH, "--socket", d.sock, "query", "--format", "pprof",
			 "--since", (char *)local(base + 2000, 1), NULL };
	ASSERT_EQ(run(argv, pb), 0);
	char cmd[1400], out[600];
	snprintf(out, sizeof(out), "%s/w.pb", oxt_case_dir());
	snprintf(cmd, sizeof(cmd), "gzip -dc %s > %s", pb, out);
	ASSERT_EQ(system(cmd), 0);
	/* Function names are strings in the profile: the window's only. */
	FILE *f = fopen(out, "rb");
	ASSERT(f);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	ASSERT(memmem(buf, n, "new_leaf", 8) && !memmem(buf, n, "old_leaf", 8));
	oxt_agent_leave(&ag);
	oxt_daemon_finish(&d);
}

/* A restart on the same state dir keeps the slots: windows answer the
 * same before and after. */
TEST_TIMEOUT(window_daemon_restart_keeps_history, 60)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[] = { "--state-dir", d.state, "--history-slot", "1", NULL };
	oxt_daemon_restart(&d, args);
	struct oxt_agent ag;
	ASSERT_EQ(oxt_agent_join(&ag, &d, "/usr/bin/winapp"), 0);
	uint64_t base = stamp_three(&ag);
	oxt_agent_leave(&ag);
	int code;
	const char *since[3] = { local(base, 1), local(base + 1000, 1), local(base + 2000, 1) };
	const long want[3] = { 17, 10, 5 };
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(json_total(ctl(&d, &code, "query", "--json", "--since", since[i], NULL)),
			  want[i]);
	oxt_daemon_stop(&d);
	oxt_daemon_restart(&d, args);
	for (int i = 0; i < 3; i++)
		ASSERT_EQ(json_total(ctl(&d, &code, "query", "--json", "--since", since[i], NULL)),
			  want[i]);
	ASSERT_EQ(json_total(ctl(&d, &code, "query", "--json", "--until", since[1], NULL)), 7);
	char *o = ctl(&d, &code, "status", "--json", NULL);
	ASSERT_MSG(strstr(o, "\"slots\": 3,"), "%s", o);
	ASSERT(strstr(o, "\"dropped_samples\": 0"));
	oxt_daemon_finish(&d);
}

static int has_samples(const struct oxt_agent_row *r)
{
	return r->samples > 0;
}

/* A query of the window [since, until) over the protocol: its total. */
static uint64_t window_total(const struct oxt_daemon *d, uint64_t since, uint64_t until)
{
	struct oxt_peer p;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	struct oxp_command c = oxt_cmd(OXP_CMD_QUERY);
	c.since_ms = since;
	c.until_ms = until;
	struct oxt_result r;
	oxt_command(&p, &c, &r);
	ASSERT_EQ(r.code, 0);
	uint64_t t = r.head.total;
	oxt_result_free(&r);
	oxt_peer_close(&p);
	return t;
}

/* The real agent samples through a daemon restart (1 s slots): a window
 * of what was taken before a mark means the same number after the
 * restart, everything is in some slot, and samples taken after the
 * restart land after it. */
TEST_TIMEOUT(window_real_agent_restart_keeps_a_windows_meaning, 120)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	const char *args[] = { "--state-dir", d.state, "--history-slot", "1", NULL };
	oxt_daemon_restart(&d, args);
	const char *env[] = { oxt_daemon_env(&d), "OXPROF_HZ=500", "OXPROF_START=1", NULL };
	char *argv[] = { OXT_SPLIT, "-n", "400000", NULL };
	pid_t pid = oxt_spawn_agent(argv, env);
	struct oxt_agent_row row;
	ASSERT_MSG(oxt_wait_row(&d, pid, has_samples, 20000, &row) == 0, "no samples");
	uint64_t mark = wall_ms();
	/* Samples taken before the mark are all in (batches flush within a
	 * second or two); then count the window. */
	sleep(3);
	uint64_t before = window_total(&d, 1, mark);
	ASSERT(before > 0);
	/* Whether the program still runs across the outage (it does unless
	 * the machine is far faster than the rounds assume). */
	int st;
	int across = waitpid(pid, &st, WNOHANG) == 0;
	oxt_daemon_stop(&d);
	uint64_t down = wall_ms();
	sleep(1);
	oxt_daemon_restart(&d, args);
	ASSERT_EQ(window_total(&d, 1, mark), before);
	if (across)
		ASSERT(waitpid(pid, &st, 0) == pid);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "split: status %d", st);
	/* Once the agent's last batches are in. */
	struct oxt_status s;
	uint64_t t0 = oxt_ms();
	do {
		usleep(200000);
		oxt_status(&d, &s);
	} while (oxt_ms() - t0 < 20000 && !(oxt_status_pid(&s, pid) &&
		 oxt_status_pid(&s, pid)->state == OXP_AGENT_EXITED));
	ASSERT_EQ(window_total(&d, 1, mark), before);
	uint64_t all = window_total(&d, 1, 0);
	printf("  before the mark %llu, all %llu, after the stop %llu\n",
	       (unsigned long long)before, (unsigned long long)all,
	       (unsigned long long)window_total(&d, down, 0));
	ASSERT_EQ(all, s.samples);
	if (across)
		ASSERT(window_total(&d, down, 0) > 0);
	else
		printf("  the program ended before the outage: nothing after it to check\n");
	oxt_daemon_finish(&d);
}

/* Slots made under other widths (a snapshot of a daemon configured
 * otherwise) and the new ones never overlap, and merge exactly. */
TEST(window_store_changed_widths_stay_disjoint)
{
	names_init();
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	const uint32_t w7[3] = { 7, 63, 630 }, w10[3] = { 10, 60, 600 }, k[2] = { 300, 3000 };
	oxd_hist_config(&a, w7, k, a.mem_budget / 4);
	uint32_t p = attach(&a, 100, "/usr/bin/x");
	struct oxd_ingest g;
	oxd_ingest_init(&g, p);
	struct batch b;
	uint64_t i = 0;
	for (; i < 200; i++) {
		batch_init(&b, i == 0, 7);
		batch_stack(&b, 7, (uint32_t)(i % 6), 1);
		uint64_t t = T0 + i * 3000;
		ingest(&a, &g, &b, t, t + 100, t + 100);
	}
	check_sums(&a);
	oxd_hist_config(&a, w10, k, a.mem_budget / 4);
	/* Back over the same span and on, as a late agent would. */
	for (uint64_t j = 0; j < 400; j++, i++) {
		batch_init(&b, 0, 7);
		batch_stack(&b, 7, (uint32_t)(j % 6), 2);
		uint64_t t = T0 + j * 2300;
		ingest(&a, &g, &b, t, t + 100, T0 + 400 * 2300);
		check_sums(&a);
	}
	oxd__hist_compact(&a, T0 + 86400000);
	check_sums(&a);
	ASSERT_EQ(qtotal(&a, T0, 0, 0, NULL), a.samples);
	ASSERT_EQ(a.samples, 200 + 800);
	oxd_ingest_destroy(&a, &g);
	oxd_agg_destroy(&a);
}

/* A format-5 file whose slots a daemon could not have written is refused
 * as a whole: overlapping slots, a cell past its entry's count, more
 * samples dropped than held. */
static int parse_patched(const uint8_t *file, size_t len, size_t off, const void *v, size_t n)
{
	uint8_t *b = malloc(len);
	ASSERT(b);
	memcpy(b, file, len);
	memcpy(b + off, v, n);
	oxd_snapshot_header(b, b + OXD_SNAPSHOT_HDR, len - OXD_SNAPSHOT_HDR);
	struct oxd_agg c;
	oxd_agg_init(&c, 64 * MIB, 16 * MIB);
	char why[200];
	int r = oxd_snapshot_parse(&c, b, len, why, sizeof(why));
	if (r < 0)
		printf("  refused: %s\n", why);
	oxd_agg_destroy(&c);
	free(b);
	return r;
}

TEST(window_store_crafted_slots_are_refused)
{
	names_init();
	char dir[512], path[600];
	oxt_mkdtemp(dir, sizeof(dir), "snap");
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	uint32_t p = attach(&a, 100, "/usr/bin/x");
	struct oxd_ingest g;
	oxd_ingest_init(&g, p);
	struct batch b;
	for (uint64_t i = 0; i < 3; i++) {
		batch_init(&b, i == 0, 7);
		batch_stack(&b, 7, 1, 4);
		uint64_t t = T0 + i * 10000;
		ingest(&a, &g, &b, t, t + 1000, t + 1000);
	}
	ASSERT_EQ(a.hist.nslots, 3);
	ASSERT_EQ(a.hist.ncells, 3);
	uint64_t bytes;
	ASSERT_EQ(oxd_snapshot_write(&a, dir, &bytes), 0);
	snprintf(path, sizeof(path), "%s/oxprofd.snap", dir);
	FILE *f = fopen(path, "rb");
	ASSERT(f);
	static uint8_t file[1 << 16];
	size_t len = fread(file, 1, sizeof(file), f);
	fclose(f);
	ASSERT_EQ(len, bytes);
	/* From the end: 3 counters, 3 cells of 16 bytes, their count, 3
	 * slots of 8 bytes. */
	size_t counters = len - 24, cells = counters - 3 * 16, slots = cells - 8 - 3 * 8;
	ASSERT_EQ(parse_patched(file, len, 0, file, 0), 0); /* as written: good */
	uint32_t wide = 20; /* slot 0 now reaches into slot 1 */
	ASSERT_EQ(parse_patched(file, len, slots + 4, &wide, 4), -EBADMSG);
	uint64_t fewer = 3; /* fewer in a slot than its entry: allowed (dropped) */
	uint64_t all = 13; /* more than the entry holds */
	ASSERT_EQ(parse_patched(file, len, cells + 16 + 8, &all, 8), -EBADMSG);
	ASSERT_EQ(parse_patched(file, len, cells + 16 + 8, &fewer, 8), 0);
	uint64_t dropped = 13;
	ASSERT_EQ(parse_patched(file, len, counters + 16, &dropped, 8), -EBADMSG);
	uint32_t bad_slot = 3;
	ASSERT_EQ(parse_patched(file, len, cells, &bad_slot, 4), -EBADMSG);
	oxd_ingest_destroy(&a, &g);
	oxd_agg_destroy(&a);
}
