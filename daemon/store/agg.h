/*
 * agg.h - the aggregate: every sample the daemon accepted, per process and
 * thread, with strings interned and frames, functions and stacks
 * hash-consed, so a stack seen a million times costs one entry.
 *
 * Identity: a string, frame (func, module, offset), function (func,
 * module) and stack (frame ids, leaf first) exist once for the whole host;
 * a sample lands in the entry (thread, stack), a thread belongs to one
 * process.  Ids are dense indexes into the arrays below and stay valid
 * until oxd_agg_reset() (which keeps strings, frames, functions, threads
 * and live processes, so agents' id maps survive it; see reset's comment).
 *
 * Per-function self/total and per-stack counts are kept incrementally, so
 * an unfiltered flat profile never walks the stacks.
 *
 * Memory: every new string, frame, function, thread, stack and entry is
 * charged to the aggregate and to the process that brought it; a sample
 * that would go over either budget is refused and counted, never lost
 * silently.  Memory the daemon holds for a peer outside the aggregate
 * (buffers, id maps) is charged here too (oxd_agg_peer_*), so one total
 * (mem_budget) and one per-uid limit (bud.uid_limit) cover every byte held
 * for peers.  The struct is public so query and snapshot code can read it;
 * only agg.c writes it.  Single-threaded (the event loop).
 */
#ifndef OXD_AGG_H
#define OXD_AGG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "budget.h"
#include "ox/index.h"
#include "oxp/oxp.h"

#define OXD_NONE UINT32_MAX /* no such id */

struct oxd_str {
	const char *p;   /* NUL-terminated, in the arena */
	uint32_t len;
	uint32_t hash;
};

struct oxd_frame {
	uint32_t func, module; /* string ids */
	uint64_t offset;
	uint32_t fn;           /* function id */
	uint32_t hash;
};

struct oxd_fn {
	uint32_t func, module; /* string ids */
	uint32_t hash;
	uint32_t mark;         /* scratch: last sample that counted it */
	uint64_t self, total;  /* all processes, kept incrementally */
	uint32_t frame;        /* its first frame: stacks use it for every pc
				  in the function, so a folded stack is one row */
};

struct oxd_stack {
	uint64_t off;          /* first frame id in stack_frames */
	uint32_t n;
	uint32_t hash;
	uint64_t count;        /* all processes */
};

struct oxd_thread {
	uint32_t proc, tid, name; /* name: string id */
	uint32_t hash;
};

struct oxd_entry {
	uint32_t thread, stack;
	uint64_t count;
};

/*
 * The time axis (history.c): slots of [start, start + width) seconds of
 * Unix time, sorted and disjoint, and per slot the count of each entry
 * sampled in it (by when the samples were taken).  Every accepted sample
 * is in one slot unless the history's budget dropped it (counted), so the
 * slots sum to the cumulative counts.
 */
#define OXD_HIST_WIDTH0 10u    /* s: newest slots */
#define OXD_HIST_WIDTH1 60u    /* s: after OXD_HIST_KEEP0 */
#define OXD_HIST_WIDTH2 600u   /* s: after OXD_HIST_KEEP1 */
#define OXD_HIST_KEEP0 3600u
#define OXD_HIST_KEEP1 86400u

struct oxd_hslot {
	uint32_t start, width;  /* Unix s */
	uint64_t samples;
};

struct oxd_hcell {
	uint32_t entry, start;  /* entry index, its slot's start */
	uint64_t count;
};

struct oxd_hist {
	struct oxd_hslot *slots; size_t nslots, cap_slots;
	struct oxd_hcell *cells; size_t ncells, cap_cells; struct ox_index icells;
	uint32_t width[3], keep[2]; /* s: tier widths, how long tiers 0, 1 last */
	uint64_t budget;        /* bytes the history may hold (within mem_budget) */
	uint64_t mem;           /* bytes it holds (part of mem_used) */
	uint64_t merged;        /* slots merged into coarser ones */
	uint64_t dropped_slots, dropped_samples; /* forgotten over the budget */
};

/* A process row: it outlives its connection (exited) until reset. */
struct oxd_proc {
	int32_t pid;
	uint32_t uid;
	uint32_t exe;           /* string id */
	uint32_t cmdline;       /* string id */
	uint8_t live;           /* an agent connection owns it now */
	uint8_t claimed;        /* exe/cmdline as the agent said: not verified */
	uint8_t removed;        /* forgotten by reset; may be reused */
	uint8_t state;          /* enum oxp_agent_state, as the agent said */
	uint8_t mode;
	uint32_t hz_requested;
	double hz_achieved;
	char source[64];
	uint64_t samples;       /* accepted */
	uint64_t dropped_daemon;
	uint64_t dropped_agent;
	uint64_t unwind_fail;
	uint64_t taken, sent;   /* the agent's own counters, last reported */
	uint64_t connected_ms, first_ms, last_ms; /* first/last: batches with samples */
	uint64_t last_batch_ms;
	uint64_t mem;           /* bytes charged to this process */
	uint64_t start_time;    /* /proc/PID/stat field 22 (ticks); 0 unknown */
	/* CPU time, ms, as the agent last reported it (PROTOCOL.md,
	 * AGENT_STATE): all of it and while sampled; base: the sampled
	 * figures at the last reset, so sampled - base is the CPU time the
	 * samples held now were taken in. */
	uint64_t cpu_user_ms, cpu_sys_ms;
	uint64_t sampled_user_ms, sampled_sys_ms;
	uint64_t base_user_ms, base_sys_ms;
	uint8_t cpu_covers;     /* OXP_CPU_* */
	/* Exactly-once delivery (PROTOCOL.md, DURABLE): the agent instance
	 * (HELLO) and, of its batches, the highest seq aggregated and the
	 * highest in a written snapshot.  Instance 0: no tracking. */
	uint64_t instance;
	uint64_t seq_received, seq_durable;
	int32_t ppid;           /* its parent when it joined (/proc, else HELLO); 0 unknown */
	uint64_t exited_ms;     /* Unix ms its agent left; 0 while connected */
};

/* A process's CPU time since the last reset, ms. */
static inline uint64_t oxd_proc_user_ms(const struct oxd_proc *p)
{
	return p->sampled_user_ms > p->base_user_ms ? p->sampled_user_ms - p->base_user_ms : 0;
}

static inline uint64_t oxd_proc_sys_ms(const struct oxd_proc *p)
{
	return p->sampled_sys_ms > p->base_sys_ms ? p->sampled_sys_ms - p->base_sys_ms : 0;
}

struct oxd_agg {
	struct oxd_str *strs; size_t nstrs, cap_strs; struct ox_index istrs;
	struct oxd_frame *frames; size_t nframes, cap_frames; struct ox_index iframes;
	struct oxd_fn *fns; size_t nfns, cap_fns; struct ox_index ifns;
	struct oxd_stack *stacks; size_t nstacks, cap_stacks; struct ox_index istacks;
	uint32_t *stack_frames; size_t nstack_frames, cap_stack_frames;
	struct oxd_thread *threads; size_t nthreads, cap_threads; struct ox_index ithreads;
	struct oxd_entry *entries; size_t nentries, cap_entries; struct ox_index ientries;
	struct oxd_proc *procs; size_t nprocs, cap_procs;
	/* Module path string id -> its GNU build-id's string id + 1 (0: none
	 * known), and the link-time address of its file offset 0 (0 unknown);
	 * see buildid.c.  Strings outlive resets, so these do too. */
	uint32_t *build_ids; size_t cap_build_ids;
	uint64_t *module_loads; /* cap_build_ids of them */
	struct oxd_arena *arena;
	uint32_t mark_gen;
	uint64_t samples, dropped;  /* accepted and refused, all processes */
	uint64_t mem_used, mem_budget, proc_budget; /* mem_used: the aggregate only */
	struct oxd_budget bud;      /* per-uid accounts and peer bytes */
	uint64_t generation;        /* bumped by every reset; query cursors check it */
	struct oxd_hist hist;
	/* Bumped by every change a snapshot keeps (ingest, process rows, their
	 * seqs, reset): equal counts say "nothing new", whatever a reset did. */
	uint64_t dirty;
};

/*
 * Per-connection id maps: agents choose their own string, frame and thread
 * ids (PROTOCOL.md, SAMPLES), scoped to one connection.  Owned by the
 * connection; init/destroy.
 */
/* Local id -> global id + 1 (0: undefined): an array for the dense ids
 * agents use, a hash for the rest, so a stray huge id costs one slot. */
struct oxd_idpair {
	uint32_t id, val;
};

struct oxd_idmap {
	uint32_t *dense; size_t cap;
	struct oxd_idpair *pairs; size_t npairs, cap_pairs; struct ox_index ipairs;
	uint32_t ndefs;
};

struct oxd_ingest {
	uint32_t proc;
	uint64_t mem;           /* bytes of the maps, charged to the proc's uid */
	struct oxd_idmap strs, frames;
	struct oxd_idmap tids;  /* always sparse: tids are large */
};

void oxd_agg_init(struct oxd_agg *a, uint64_t mem_budget, uint64_t proc_budget);
void oxd_agg_destroy(struct oxd_agg *a);

/* Intern a string without a budget check (daemon metadata, snapshots). */
uint32_t oxd_agg_str(struct oxd_agg *a, const char *p, size_t len);
static inline const char *oxd_agg_strp(const struct oxd_agg *a, uint32_t id)
{
	return a->strs[id].p;
}

/* Who a process is: from /proc when verified, else as it claimed. */
struct oxd_ident {
	int32_t pid;            /* from SO_PEERCRED */
	uint32_t uid;
	uint64_t start_time;    /* /proc/PID/stat field 22; 0 unknown */
	struct oxp_str exe, cmdline;
	int claimed;            /* exe and cmdline could not be verified */
	uint64_t instance;      /* the agent instance it names (HELLO); 0 none */
	int32_t ppid;           /* its parent: /proc when verified, else HELLO */
};

/*
 * A process row for a new agent connection: the exited row of the same
 * agent instance (HELLO), else an exited (or forgotten) row of the same
 * process (pid and start time; for rows without a start time,
 * pid and verified exe) is taken over, so samples of a process that
 * reconnects continue in its row.  The row and its strings are charged to
 * the uid.  Returns 0 with *proc, or -ENOSPC over a budget (counted).
 */
int oxd_agg_proc_attach(struct oxd_agg *a, const struct oxd_ident *id, uint64_t now_ms,
			uint32_t *proc);
/* The agent's connection closed at now_ms: the row stays, marked exited.
 * Its `sent` becomes at least what the daemon took of it (accepted +
 * refused): an agent that died before its last report cannot say. */
void oxd_agg_proc_detach(struct oxd_agg *a, uint32_t proc, uint64_t now_ms);
/* Counters an agent reported. */
void oxd_agg_proc_stats(struct oxd_agg *a, uint32_t proc, const struct oxp_agent_stats *st);

void oxd_ingest_init(struct oxd_ingest *g, uint32_t proc);
/* Frees the maps and releases their charge. */
void oxd_ingest_destroy(struct oxd_agg *a, struct oxd_ingest *g);

/*
 * Bytes the daemon holds for a connection of uid outside the aggregate
 * (reader and writer buffers, connection state).  charge: 0, or -ENOSPC
 * when the total or the uid's limit would be passed (counted as refused;
 * nothing charged).  force charges without a check (replies to control
 * clients, which are short-lived).  release gives bytes back.
 */
int oxd_agg_peer_charge(struct oxd_agg *a, uint32_t uid, uint64_t n);
void oxd_agg_peer_force(struct oxd_agg *a, uint32_t uid, uint64_t n);
void oxd_agg_peer_release(struct oxd_agg *a, uint32_t uid, uint64_t n);
/* Everything held: the aggregate plus peers. */
static inline uint64_t oxd_agg_mem_total(const struct oxd_agg *a)
{
	return a->mem_used + a->bud.peers;
}

/*
 * Aggregate one SAMPLES batch.  *accepted and *refused (over budget) sum
 * to the batch's samples.  Returns 0, -OXP_ESHAPE for a reference to an id
 * the connection never defined (nothing of the batch's stacks is
 * counted), or -OXP_ELIMIT when the connection has made more definitions
 * than the daemon keeps maps for (the agent should reconnect).
 */
/* (or -ENOSPC when the id maps would pass a memory budget: the
 * connection should be closed.) */
int oxd_agg_ingest(struct oxd_agg *a, struct oxd_ingest *g, const struct oxp_samples *s,
		   uint64_t now_ms, uint64_t *accepted, uint64_t *refused);

/*
 * Forget samples.  proc_match NULL: everything (all entries and stacks,
 * exited processes' rows; totals to zero).  Else only processes for which
 * proc_match returns 1.  Strings, frames and functions stay: connected
 * agents' id maps point at them.  Returns the number of process rows
 * cleared.
 */
uint32_t oxd_agg_reset(struct oxd_agg *a, int (*proc_match)(const struct oxd_proc *, void *),
		       void *arg);

/* Restore helpers for snapshots: no budget check, counts added. */
uint32_t oxd_agg_frame(struct oxd_agg *a, uint32_t func, uint32_t module, uint64_t offset);
uint32_t oxd_agg_thread(struct oxd_agg *a, uint32_t proc, uint32_t tid, uint32_t name);
uint32_t oxd_agg_restore_proc(struct oxd_agg *a, const struct oxd_proc *p);
/* Returns the entry's index (OXD_NONE: refused). */
uint32_t oxd_agg_restore_entry(struct oxd_agg *a, uint32_t thread, const uint32_t *frames,
			       uint32_t n, uint64_t count);

/* Slot widths (finest first; each rounded to a multiple of the finer),
 * how long the first two tiers keep their width, and the history's byte
 * budget.  Slots already made keep their width. */
void oxd_hist_config(struct oxd_agg *a, const uint32_t width[3], const uint32_t keep[2],
		     uint64_t budget);
/* Merge the slots that have aged into coarser ones (ingest does it too). */
void oxd__hist_compact(struct oxd_agg *a, uint64_t now_ms);
/* Snapshot restore: a slot (before its cells), a cell of an entry index. */
void oxd_agg_restore_slot(struct oxd_agg *a, uint32_t start, uint32_t width);
void oxd_agg_restore_cell(struct oxd_agg *a, uint32_t start, uint32_t entry, uint64_t count);
/* The slots [*lo, *hi) overlapping [since_ms, until_ms) (until 0: open);
 * returns 0 when there are none. */
int oxd_hist_range(const struct oxd_agg *a, uint64_t since_ms, uint64_t until_ms,
		   uint32_t *lo, uint32_t *hi);

/* Whether a process row is selected: pids (any of), exe (full path or
 * basename) and tree (that pid and its descendants, oxd_agg_in_tree); an
 * empty selector selects every row not forgotten by reset.  An exe
 * selector never selects a claimed row: anyone can claim sshd. */
int oxd_agg_proc_match(const struct oxd_agg *a, const struct oxd_proc *p,
		       const struct oxp_selector *sel);

/* The string id of module's build-id (lower-case hex), or OXD_NONE. */
static inline uint32_t oxd_agg_build_id(const struct oxd_agg *a, uint32_t module)
{
	return module < a->cap_build_ids && a->build_ids[module] ? a->build_ids[module] - 1
								  : OXD_NONE;
}

static inline uint64_t oxd_agg_module_load(const struct oxd_agg *a, uint32_t module)
{
	return module < a->cap_build_ids ? a->module_loads[module] : 0;
}

/*
 * Whether row p is process root or descends from it: its parent (ppid)
 * is a row in the tree that started no later than p (when both start
 * times are known), and so on up.  Every row with pid root is a root
 * (with a pid reused over the daemon's life, each process that had it).
 * The marks are computed once per aggregate change and root (cached).
 */
int oxd_agg_in_tree(const struct oxd_agg *a, const struct oxd_proc *p, int32_t root);

/* Frames of a stack, leaf first. */
static inline const uint32_t *oxd_agg_stack_frames(const struct oxd_agg *a, uint32_t stack)
{
	return a->stack_frames + a->stacks[stack].off;
}

/* A fresh mark generation for de-duplicating functions within one sample. */
uint32_t oxd_agg_next_mark(struct oxd_agg *a);

#endif
