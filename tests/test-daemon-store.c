/*
 * test-daemon-store.c - the daemon's store on its own, linked directly
 * (no daemon, no socket): interning, ingest with budgets and refusal,
 * reset, the snapshot round trip, fleet states (the hash index on its
 * own: test-index.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agg.h"
#include "fleet.h"
#include "snapshot.h"
#include "task.h"

#define MIB (1024ull * 1024)

/* One batch: names[i] is string id i + 1 and frame id i + 1 (module
 * string 0 is defined as "libt.so"); stacks are lists of name indexes. */
struct batch {
	struct oxp_str_def strs[64];
	struct oxp_frame_def frames[64];
	struct oxp_thread_def threads[4];
	struct oxp_stack stacks[64];
	uint32_t fr[64][8];
	struct oxp_samples s;
};

static void batch_init(struct batch *b, uint64_t seq, const char *const *names, uint32_t n,
		       uint32_t tid)
{
	memset(b, 0, sizeof(*b));
	b->strs[0] = (struct oxp_str_def){ 0, oxp_str_c("libt.so") };
	for (uint32_t i = 0; i < n; i++) {
		b->strs[i + 1] = (struct oxp_str_def){ i + 1, oxp_str_c(names[i]) };
		b->frames[i] = (struct oxp_frame_def){ i + 1, i + 1, 0, 0x100 * (i + 1) };
	}
	b->threads[0] = (struct oxp_thread_def){ tid, 1 };
	b->s = (struct oxp_samples){ .seq = seq, .nstrings = n + 1, .strings = b->strs,
				     .nframes = n, .frames = b->frames, .nthreads = 1,
				     .threads = b->threads, .stacks = b->stacks };
	b->s.stats.source = oxp_str_c("test"); /* as the decoder gives it: never NULL */ 
}

/* A stack of frames (name indexes, leaf first) counted count times. */
static void batch_stack(struct batch *b, uint32_t tid, uint32_t count, uint32_t n, ...)
{
	uint32_t k = b->s.nstacks++;
	va_list ap;
	va_start(ap, n);
	for (uint32_t i = 0; i < n; i++)
		b->fr[k][i] = va_arg(ap, uint32_t) + 1;
	va_end(ap);
	b->stacks[k] = (struct oxp_stack){ tid, 0, count, n, b->fr[k] };
}

static uint32_t attach(struct oxd_agg *a, int32_t pid, uint32_t uid, const char *exe)
{
	struct oxd_ident id = { .pid = pid, .uid = uid, .exe = oxp_str_c(exe),
				.cmdline = oxp_str_c(exe) };
	uint32_t proc;
	ASSERT_EQ(oxd_agg_proc_attach(a, &id, 1000, &proc), 0);
	return proc;
}

static const struct oxd_fn *fn_named(const struct oxd_agg *a, const char *name)
{
	for (size_t i = 0; i < a->nfns; i++)
		if (strcmp(oxd_agg_strp(a, a->fns[i].func), name) == 0)
			return &a->fns[i];
	return NULL;
}

static const char *const NAMES[] = { "main", "work", "leaf", "other" };

TEST(store_ingest_counts_and_dedupes)
{
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	uint32_t p = attach(&a, 100, 1000, "/usr/bin/x");
	struct oxd_ingest g;
	oxd_ingest_init(&g, p);
	struct batch b;
	batch_init(&b, 1, NAMES, 4, 7);
	batch_stack(&b, 7, 5, 3, 2, 1, 0); /* leaf;work;main */
	batch_stack(&b, 7, 2, 2, 1, 0);    /* work;main */
	uint64_t acc, ref;
	ASSERT_EQ(oxd_agg_ingest(&a, &g, &b.s, 2000, &acc, &ref), 0);
	ASSERT_EQ(acc, 7);
	ASSERT_EQ(ref, 0);
	/* The same stacks again, ids already defined: no new stacks. */
	b.s.nstrings = b.s.nframes = b.s.nthreads = 0;
	ASSERT_EQ(oxd_agg_ingest(&a, &g, &b.s, 3000, &acc, &ref), 0);
	ASSERT_EQ(a.samples, 14);
	ASSERT_EQ(a.nstacks, 2);
	ASSERT_EQ(a.nentries, 2);
	ASSERT_EQ(fn_named(&a, "leaf")->self, 10);
	ASSERT_EQ(fn_named(&a, "work")->self, 4);
	ASSERT_EQ(fn_named(&a, "main")->total, 14);
	ASSERT_EQ(a.procs[p].samples, 14);
	ASSERT_EQ(a.procs[p].last_ms, 3000);
	oxd_ingest_destroy(&a, &g);
	oxd_agg_destroy(&a);
}

/* The change counter moves with every change a snapshot keeps, where the
 * old mark (samples + dropped + generation + nprocs) stood still: a reset,
 * then one sample fewer than it forgot. */
TEST(store_dirty_counts_changes_a_reset_hides_from_sums)
{
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	uint64_t d = a.dirty;
	uint32_t p = attach(&a, 100, 1000, "/usr/bin/x");
	ASSERT(a.dirty > d);
	struct oxd_ingest g;
	oxd_ingest_init(&g, p);
	struct batch b;
	batch_init(&b, 1, NAMES, 4, 7);
	batch_stack(&b, 7, 5, 3, 2, 1, 0); /* leaf;work;main */
	uint64_t acc, ref;
	d = a.dirty;
	ASSERT_EQ(oxd_agg_ingest(&a, &g, &b.s, 2000, &acc, &ref), 0);
	ASSERT(a.dirty > d);
	uint64_t mark = a.samples + a.dropped + a.generation + a.nprocs;
	d = a.dirty;
	oxd_agg_reset(&a, NULL, NULL);
	ASSERT(a.dirty > d);
	b.s.nstrings = b.s.nframes = b.s.nthreads = 0;
	b.stacks[0].count = 4; /* main;work;leaf again, one sample fewer */
	d = a.dirty;
	ASSERT_EQ(oxd_agg_ingest(&a, &g, &b.s, 3000, &acc, &ref), 0);
	ASSERT_EQ(acc, 4);
	ASSERT_EQ(a.samples + a.dropped + a.generation + a.nprocs, mark);
	ASSERT(a.dirty > d);
	struct oxp_agent_stats st = { .source = oxp_str_c("test") };
	d = a.dirty;
	oxd_agg_proc_stats(&a, p, &st);
	ASSERT(a.dirty > d);
	d = a.dirty;
	oxd_agg_proc_detach(&a, p, 1);
	ASSERT(a.dirty > d);
	oxd_ingest_destroy(&a, &g);
	oxd_agg_destroy(&a);
}

TEST(store_undefined_id_refuses_the_batch)
{
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	struct oxd_ingest g;
	oxd_ingest_init(&g, attach(&a, 100, 1000, "/usr/bin/x"));
	struct batch b;
	batch_init(&b, 1, NAMES, 2, 7);
	batch_stack(&b, 7, 1, 1, 0);
	batch_stack(&b, 7, 1, 1, 9); /* frame 10: never defined */
	uint64_t acc, ref;
	ASSERT_EQ(oxd_agg_ingest(&a, &g, &b.s, 2000, &acc, &ref), -OXP_ESHAPE);
	ASSERT_EQ(a.samples, 0);
	ASSERT_EQ(a.nentries, 0);
	oxd_ingest_destroy(&a, &g);
	oxd_agg_destroy(&a);
}

TEST(store_budget_refuses_new_stacks_and_counts_them)
{
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 64 * 1024); /* a small per-process budget */
	uint32_t p = attach(&a, 100, 1000, "/usr/bin/x");
	struct oxd_ingest g;
	oxd_ingest_init(&g, p);
	static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g", "h" };
	struct batch b;
	batch_init(&b, 1, names, 8, 7);
	batch_stack(&b, 7, 3, 1, 0);
	uint64_t acc, ref, sent = 3, accepted = 0, refused = 0;
	ASSERT_EQ(oxd_agg_ingest(&a, &g, &b.s, 2000, &acc, &ref), 0);
	accepted += acc;
	/* Unique stacks of 8 frames until the budget says no. */
	for (uint32_t i = 0; i < 20000 && !refused; i++) {
		batch_init(&b, i + 2, names, 8, 7);
		b.s.nstrings = b.s.nframes = b.s.nthreads = 0;
		batch_stack(&b, 7, 1, 8, i % 8, (i / 8) % 8, (i / 64) % 8, (i / 512) % 8,
			    (i / 4096) % 8, 1u, 2u, 3u);
		ASSERT_EQ(oxd_agg_ingest(&a, &g, &b.s, 2000, &acc, &ref), 0);
		ASSERT_EQ(acc + ref, 1);
		accepted += acc;
		refused += ref;
		sent++;
	}
	ASSERT(refused > 0);
	ASSERT(a.procs[p].mem <= a.proc_budget);
	ASSERT_EQ(a.dropped, refused);
	ASSERT_EQ(a.procs[p].dropped_daemon, refused);
	ASSERT_EQ(a.samples, accepted);
	ASSERT_EQ(accepted + refused, sent);
	/* A stack it already has is still counted. */
	batch_init(&b, 99999, names, 8, 7);
	b.s.nstrings = b.s.nframes = b.s.nthreads = 0;
	batch_stack(&b, 7, 4, 1, 0);
	ASSERT_EQ(oxd_agg_ingest(&a, &g, &b.s, 2000, &acc, &ref), 0);
	ASSERT_EQ(acc, 4);
	oxd_ingest_destroy(&a, &g);
	oxd_agg_destroy(&a);
}

TEST(store_peer_charges_stay_within_the_uid_limit)
{
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	a.bud.uid_limit = 1 * MIB;
	ASSERT_EQ(oxd_agg_peer_charge(&a, 1000, 512 * 1024), 0);
	ASSERT_EQ(oxd_agg_peer_charge(&a, 1000, 600 * 1024), -ENOSPC);
	ASSERT_EQ(oxd_agg_peer_charge(&a, 2000, 600 * 1024), 0); /* another uid */
	ASSERT_EQ(oxd_budget_uid(&a.bud, 1000)->refused_mem, 1);
	oxd_agg_peer_release(&a, 1000, 512 * 1024);
	ASSERT_EQ(oxd_agg_peer_charge(&a, 1000, 600 * 1024), 0);
	ASSERT_EQ(a.bud.peers, 1200 * 1024);
	oxd_agg_destroy(&a);
}

static void two_processes(struct oxd_agg *a, uint32_t *p1, uint32_t *p2)
{
	oxd_agg_init(a, 64 * MIB, 16 * MIB);
	*p1 = attach(a, 100, 1000, "/usr/bin/alpha");
	*p2 = attach(a, 200, 1000, "/usr/bin/beta");
	uint32_t ps[2] = { *p1, *p2 };
	for (int i = 0; i < 2; i++) {
		struct oxd_ingest g;
		oxd_ingest_init(&g, ps[i]);
		struct batch b;
		batch_init(&b, 1, NAMES, 4, 7);
		batch_stack(&b, 7, 10 * (uint32_t)(i + 1), 2, (uint32_t)i + 2, 0u);
		uint64_t acc, ref;
		ASSERT_EQ(oxd_agg_ingest(a, &g, &b.s, 2000, &acc, &ref), 0);
		oxd_ingest_destroy(a, &g);
	}
}

TEST(store_reset_selected_and_all)
{
	struct oxd_agg a;
	uint32_t p1, p2;
	two_processes(&a, &p1, &p2);
	ASSERT_EQ(a.samples, 30);
	uint64_t gen = a.generation;
	struct oxp_selector sel = { .exe = oxp_str_c("beta") };
	ASSERT_EQ(oxd_fleet_forget(&a, &sel), 1);
	ASSERT_EQ(a.samples, 10);
	ASSERT_EQ(a.procs[p2].samples, 0);
	ASSERT_EQ(a.procs[p1].samples, 10);
	ASSERT_EQ(fn_named(&a, "other")->self, 0);
	ASSERT_EQ(fn_named(&a, "leaf")->self, 10);
	ASSERT(a.generation > gen);
	struct oxp_command cmd = { .cmd = OXP_CMD_RESET, .sel = { .exe = oxp_str_c("nothing") } };
	uint32_t n;
	char msg[128];
	ASSERT_EQ(oxd_fleet_reset(&a, &cmd, &n, msg, sizeof(msg)), -OXP_ENOMATCH);
	cmd.sel.exe = oxp_str_c("");
	ASSERT_EQ(oxd_fleet_reset(&a, &cmd, &n, msg, sizeof(msg)), 0);
	ASSERT_EQ(a.samples, 0);
	ASSERT_EQ(a.nentries, 0);
	ASSERT_EQ(a.nstacks, 0);
	/* Strings and frames stay: agents' id maps point at them. */
	ASSERT(fn_named(&a, "leaf") != NULL);
	oxd_agg_destroy(&a);
}

/* --exe is the executable's path or name, or the name the program was
 * started by: Debian's redis-server runs /usr/bin/redis-check-rdb. */
TEST(store_exe_selector_matches_the_name_it_was_run_by)
{
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	struct oxd_ident id = { .pid = 7, .uid = 0, .exe = oxp_str_c("/usr/bin/redis-check-rdb"),
				.cmdline = oxp_str_c("redis-server *:6379") };
	uint32_t proc;
	ASSERT_EQ(oxd_agg_proc_attach(&a, &id, 1000, &proc), 0);
	const char *yes[] = { "redis-check-rdb", "/usr/bin/redis-check-rdb", "redis-server" };
	const char *no[] = { "redis", "*:6379", "redis-server *:6379", "usr/bin" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		struct oxp_selector sel = { .exe = oxp_str_c(yes[i]) };
		ASSERT_MSG(oxd_agg_proc_match(&a, &a.procs[proc], &sel), "%s", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		struct oxp_selector sel = { .exe = oxp_str_c(no[i]) };
		ASSERT_MSG(!oxd_agg_proc_match(&a, &a.procs[proc], &sel), "%s", no[i]);
	}
	oxd_agg_destroy(&a);
}

TEST(store_snapshot_round_trip)
{
	struct oxd_agg a, b;
	uint32_t p1, p2;
	two_processes(&a, &p1, &p2);
	a.procs[p1].instance = 42;
	a.procs[p1].seq_received = 7;
	char dir[] = "/tmp/oxt-store-XXXXXX";
	ASSERT(mkdtemp(dir));
	uint64_t bytes = 0;
	ASSERT_EQ(oxd_snapshot_write(&a, dir, &bytes), 0);
	ASSERT(bytes > OXD_SNAPSHOT_HDR);
	oxd_agg_init(&b, 64 * MIB, 16 * MIB);
	ASSERT_EQ(oxd_snapshot_load(&b, dir), 1);
	ASSERT_EQ(b.samples, a.samples);
	ASSERT_EQ(b.nprocs, a.nprocs);
	ASSERT_EQ(b.nstacks, a.nstacks);
	ASSERT_EQ(b.nentries, a.nentries);
	ASSERT_EQ(fn_named(&b, "leaf")->self, fn_named(&a, "leaf")->self);
	ASSERT_EQ(fn_named(&b, "main")->total, 30);
	int found = 0;
	for (size_t i = 0; i < b.nprocs; i++)
		if (b.procs[i].instance == 42) {
			found = 1;
			ASSERT_EQ(b.procs[i].seq_received, 7);
			ASSERT_EQ(b.procs[i].live, 0);
		}
	ASSERT(found);
	/* A damaged file is refused whole and set aside. */
	char path[300], cmd[400];
	snprintf(path, sizeof(path), "%s/oxprofd.snap", dir);
	FILE *f = fopen(path, "r+");
	ASSERT(f);
	ASSERT(fseek(f, 40, SEEK_SET) == 0);
	ASSERT(fputc(0xff, f) != EOF);
	ASSERT(fclose(f) == 0);
	unlink(strcat(strcpy(cmd, path), ".prev"));
	struct oxd_agg c;
	oxd_agg_init(&c, 64 * MIB, 16 * MIB);
	ASSERT_EQ(oxd_snapshot_load(&c, dir), 0);
	ASSERT_EQ(c.samples, 0);
	ASSERT(access(strcat(strcpy(cmd, path), ".bad"), F_OK) == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ASSERT_EQ(system(cmd), 0);
	oxd_agg_destroy(&a);
	oxd_agg_destroy(&b);
	oxd_agg_destroy(&c);
}

TEST(store_fleet_next_state)
{
	struct oxp_fleet f = { 0, OXP_MODE_CPU, 99, 128 };
	struct oxp_command c = { .cmd = OXP_CMD_START, .hz = 250, .mode = 0xff };
	ASSERT_EQ(oxd_fleet_next(&c, &f), 0);
	ASSERT_EQ(f.running, 1);
	ASSERT_EQ(f.hz, 250);
	ASSERT_EQ(f.mode, OXP_MODE_CPU);
	ASSERT_EQ(f.depth, 128);
	c = (struct oxp_command){ .cmd = OXP_CMD_PAUSE, .mode = 0xff };
	ASSERT_EQ(oxd_fleet_next(&c, &f), 0);
	ASSERT_EQ(f.running, 0);
	ASSERT_EQ(f.hz, 250);
	c = (struct oxp_command){ .cmd = OXP_CMD_START, .hz = OXP_MAX_HZ + 1, .mode = 0xff };
	struct oxp_fleet g = f;
	ASSERT_EQ(oxd_fleet_next(&c, &g), -EINVAL);
	ASSERT_EQ(memcmp(&f, &g, sizeof(f)), 0);
	ASSERT_STREQ(oxd_fleet_cmd_name(OXP_CMD_UNPAUSE), "unpause");
}

TEST(store_sparse_thread_ids)
{
	struct oxd_agg a;
	oxd_agg_init(&a, 64 * MIB, 16 * MIB);
	struct oxd_ingest g;
	oxd_ingest_init(&g, attach(&a, 100, 1000, "/usr/bin/x"));
	struct batch b;
	uint64_t acc, ref;
	for (uint32_t t = 0; t < 200; t++) {
		uint32_t tid = 4000000000u - t * 7919;
		batch_init(&b, t + 1, NAMES, 4, tid);
		batch_stack(&b, tid, 1, 1, 0);
		ASSERT_EQ(oxd_agg_ingest(&a, &g, &b.s, 2000, &acc, &ref), 0);
		ASSERT_EQ(acc, 1);
	}
	ASSERT_EQ(a.nthreads, 200);
	ASSERT_EQ(g.tids.npairs, 200);
	ASSERT(g.mem > 0);
	oxd_ingest_destroy(&a, &g);
	ASSERT_EQ(a.bud.peers, 0);
	oxd_agg_destroy(&a);
}
