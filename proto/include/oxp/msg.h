/*
 * msg.h - plain C structs for every message; see PROTOCOL.md for meanings.
 *
 * Ownership: in a decoded message, every oxp_str and every pointer borrows
 * memory owned by the oxp_decoder that produced it, valid until the next
 * oxp_decoder_decode() or oxp_decoder_destroy() on it; copy what you keep.
 * For encoding, the caller owns everything it points to.
 */
#ifndef OXP_MSG_H
#define OXP_MSG_H

#include <stdint.h>

#include "protocol.h"

/* A counted string, not NUL-terminated. */
struct oxp_str {
	const char *ptr;
	uint32_t len;
};

/* The sampling state the fleet should be in. */
struct oxp_fleet {
	uint8_t running;  /* 0 paused, 1 sampling */
	uint8_t mode;     /* enum oxp_mode */
	uint32_t hz;      /* samples per second per thread, 1..100000 */
	uint32_t depth;   /* max frames per stack, 1..OXP_MAX_DEPTH */
};

struct oxp_hello {
	uint8_t role;          /* enum oxp_role */
	int32_t pid;           /* claimed; the daemon uses SO_PEERCRED instead */
	struct oxp_str exe;    /* agent: /proc/self/exe target */
	struct oxp_str cmdline; /* agent: argv joined by spaces, truncated */
	struct oxp_str software; /* "liboxprof 0.1.0", "oxprofctl 0.1.0" */
	uint64_t instance;     /* agent: random, fixed for the process's life
				  (new in a fork child); 0 for clients */
	int32_t ppid;          /* agent: getppid(), claimed; 0 for clients */
};

struct oxp_welcome {
	struct oxp_str software; /* "oxprofd 0.1.0" */
	struct oxp_fleet fleet;  /* agents adopt this at once */
	uint64_t seq;            /* of the state; echoed by AGENT_STATE */
	uint32_t flush_ms;       /* how often agents send batches */
	/* Agent: of this agent instance's batches, those through seq `durable`
	 * are in a written snapshot, those through `received` are aggregated
	 * (in memory only).  0 = none; always 0 for clients. */
	uint64_t durable;
	uint64_t received;
};

struct oxp_error_msg {
	int32_t code;            /* negative errno or -OXP_E* */
	struct oxp_str message;  /* one line for a person */
};

struct oxp_bye {
	struct oxp_str reason;
};

/* Which agents a command applies to, or which samples a query counts.
 * Empty selector = all. */
struct oxp_selector {
	uint32_t npids;
	const int32_t *pids;
	struct oxp_str exe;     /* basename or full path of the executable */
	struct oxp_str thread;  /* query only: tid in decimal, or thread name */
	int32_t tree;           /* 0, or a pid: that process and its descendants */
};

struct oxp_command {
	uint8_t cmd;            /* enum oxp_cmd */
	struct oxp_selector sel;
	/* START: parameters; 0 keeps the current value. */
	uint32_t hz;
	uint8_t mode;           /* 0xff keeps the current mode */
	uint32_t depth;
	/* QUERY */
	uint8_t by;             /* enum oxp_by */
	uint8_t sort;           /* enum oxp_sort */
	uint32_t limit;         /* 0 = no limit */
	/* Version 3: a window of Unix ms, [since, until), 0 = open; the
	 * daemon answers from the time slots overlapping it. */
	uint64_t since_ms, until_ms;
};

struct oxp_reply {
	int32_t code;           /* 0, negative errno or -OXP_E* */
	struct oxp_str message;
	uint32_t affected;      /* agents a fleet command reached */
};

struct oxp_agent_row {
	int32_t pid;
	uint32_t uid;
	struct oxp_str exe;
	uint8_t state;          /* enum oxp_agent_state */
	uint8_t mode;
	uint32_t hz_requested;
	double hz_achieved;
	struct oxp_str source;  /* sampling source, or why it is disabled */
	uint64_t samples;       /* accepted by the daemon */
	uint64_t dropped_agent; /* reported lost inside the agent */
	uint64_t dropped_daemon; /* refused by the daemon (budgets) */
	uint64_t unwind_fail;
	uint64_t connected_ms;  /* Unix time in ms */
	uint64_t last_batch_ms; /* Unix time in ms, 0 = none yet */
	uint64_t taken;         /* the agent's own counters, last reported */
	uint64_t sent;
	uint32_t flags;         /* OXP_ROW_* */
	uint64_t start_time;    /* the process's start, ticks since boot; 0 unknown */
	/* Version 3: CPU time as the agent last reported it (agent_stats),
	 * ms; sampled_*: since the last reset of its samples. */
	uint64_t cpu_user_ms, cpu_sys_ms;
	uint64_t sampled_user_ms, sampled_sys_ms;
	uint8_t cpu_covers;     /* OXP_CPU_* bits */
	int32_t ppid;           /* its parent when it joined; 0 unknown */
	uint64_t exited_ms;     /* Unix ms its agent left; 0 while connected */
};

/* agent_row.flags */
#define OXP_ROW_CLAIMED 1u      /* exe as the agent said: the kernel could not vouch */

/* What the daemon holds for one user's peers and what it refused them. */
struct oxp_uid_row {
	uint32_t uid;
	uint64_t mem;           /* bytes: its processes' share of the aggregate + peers */
	uint32_t conns;         /* connections held now */
	uint32_t agents;        /* of which agents */
	uint64_t refused_conns; /* connections refused or dropped */
	uint64_t refused_mem;   /* memory charges refused (times) */
	uint64_t dropped;       /* samples refused over a budget */
};

struct oxp_status {
	struct oxp_str software;
	uint64_t uptime_ms;
	struct oxp_fleet fleet;
	uint64_t mem_used;      /* bytes held: the aggregate and every peer */
	uint64_t mem_budget;
	uint64_t samples;       /* accepted, all processes */
	uint64_t dropped;       /* refused by the daemon, all processes */
	uint64_t refused_conns; /* peers dropped: bad input, limits, access */
	uint32_t nagents;
	const struct oxp_agent_row *agents;
	uint64_t mem_peers;     /* of mem_used: connections, buffers, id maps */
	uint64_t refused_mem;   /* memory charges refused (times), all uids */
	uint32_t nuids;
	const struct oxp_uid_row *uids;
	/* Version 3: the time slots: how many and their bytes, slots merged
	 * into coarser ones, and slots and samples dropped over the budget. */
	uint64_t hist_slots, hist_bytes, hist_merged, hist_dropped_slots, hist_dropped_samples;
	uint64_t hist_first_ms;  /* start of the oldest slot, 0 none */
};

struct oxp_query_head {
	uint64_t total;         /* samples matching the filter */
	uint64_t first_ms;      /* Unix ms of the first and last batch */
	uint64_t last_ms;
	uint32_t nrows;         /* rows that follow, after limit */
	uint32_t nprocs;        /* processes contributing */
	/* Version 3: CPU time of the matching processes while they were
	 * sampled (since the last reset), ms, and how much of it the samples
	 * stand for: user + system for processes whose source counts system
	 * time, user only for the others.  total / covered = achieved rate. */
	uint64_t user_ms, sys_ms, covered_ms;
	/* Version 3: the window the rows cover, Unix ms, [since, until): the
	 * slots a windowed query used (0, 0: every sample since the reset). */
	uint64_t since_ms, until_ms;
};

/* One row of a query.  For OXP_BY_STACK, name is "f1;f2;...;leaf" (root
 * first) and self == total == the stack's count. */
struct oxp_row {
	struct oxp_str name;
	struct oxp_str module;
	int32_t pid;            /* by process/thread; else 0 */
	int32_t tid;            /* by thread; else 0 */
	uint64_t self;
	uint64_t total;
	/* OXP_BY_FRAMES: the stack as frame ids (leaf first) defined in this
	 * or an earlier QUERY_ROWS of the query; else empty. */
	uint32_t nframes;
	const uint32_t *frames;
};

/* A frame of a by=frames query: module is a module id (oxp_qmodule). */
struct oxp_qframe {
	uint32_t id;
	struct oxp_str func;    /* as the agent named it; "" unresolved */
	uint32_t module;
	uint64_t offset;        /* pc - the module's load bias */
};

struct oxp_qmodule {
	uint32_t id;
	struct oxp_str path;
	struct oxp_str build_id; /* lower-case hex; "" unknown */
	uint64_t load;          /* as in oxp_module_def; 0 unknown */
};

struct oxp_query_rows {
	uint32_t nrows;
	const struct oxp_row *rows;
	/* by=frames: definitions first used by these rows (each sent once
	 * per query); empty for other groupings. */
	uint32_t nframes;
	const struct oxp_qframe *frames;
	uint32_t nmodules;
	const struct oxp_qmodule *modules;
};

struct oxp_set_state {
	struct oxp_fleet fleet;
	uint64_t seq;
	uint8_t reset;          /* discard what is aggregated but unsent */
};

/* Counters an agent reports; all cumulative since the agent started, so a
 * lost message loses nothing. */
struct oxp_agent_stats {
	uint64_t ack_seq;       /* last SET_STATE/WELCOME seq applied */
	uint8_t state;          /* enum oxp_agent_state */
	uint8_t mode;
	uint32_t hz_requested;
	double hz_achieved;
	struct oxp_str source;  /* "perf-task-clock", "cpu-timer", ... */
	uint64_t taken;         /* samples the handler took */
	uint64_t sent;          /* samples put in SAMPLES messages */
	uint64_t dropped;       /* lost in the agent: ring full, budget */
	uint64_t unwind_fail;
	uint64_t skipped;       /* in loader/dlopen/fork: not unwound */
	/* Version 3: the process's CPU time (getrusage RUSAGE_SELF), ms: all
	 * of it, and what it spent while sampling was armed; cumulative. */
	uint64_t cpu_user_ms, cpu_sys_ms;
	uint64_t sampled_user_ms, sampled_sys_ms;
	uint8_t cpu_covers;     /* OXP_CPU_* bits: the time samples are taken in */
};

struct oxp_str_def {
	uint32_t id;
	struct oxp_str str;
};

struct oxp_frame_def {
	uint32_t id;
	uint32_t func;          /* string id */
	uint32_t module;        /* string id */
	uint64_t offset;        /* pc - module load base */
};

struct oxp_thread_def {
	uint32_t tid;
	uint32_t name;          /* string id */
};

/* A module's GNU build-id and layout, sent once per connection. */
struct oxp_module_def {
	uint32_t module;        /* string id of the module's path */
	struct oxp_str build_id; /* lower-case hex, at most 2 * OXP_MAX_BUILD_ID;
				    "" none */
	uint64_t load;          /* link-time address of file offset 0 (the
				   first PT_LOAD's p_vaddr - p_offset) */
};

struct oxp_stack {
	uint32_t tid;
	uint8_t state;          /* enum oxp_thread_state */
	uint32_t count;
	uint32_t nframes;
	const uint32_t *frames; /* frame ids, leaf first */
};

/*
 * A batch.  Strings, frames and threads are defined incrementally: an id is
 * defined once per connection, before or in the batch that first uses it.
 */
struct oxp_samples {
	uint64_t seq;
	uint32_t nstrings;
	const struct oxp_str_def *strings;
	uint32_t nframes;
	const struct oxp_frame_def *frames;
	uint32_t nthreads;
	const struct oxp_thread_def *threads;
	uint32_t nstacks;
	const struct oxp_stack *stacks;
	struct oxp_agent_stats stats;
	uint32_t nmodules;      /* build-ids of modules (version 3) */
	const struct oxp_module_def *modules;
	/* Unix ms when the agent took the batch's first and last samples
	 * (as its drain thread saw them, within about 10 ms); a batch sent
	 * again after a daemon restart keeps them.  0 = unknown. */
	uint64_t first_ms;
	uint64_t last_ms;
};

/* The daemon aggregated batch seq: accepted + refused = its samples. */
struct oxp_samples_ack {
	uint64_t seq;
	uint64_t accepted;
	uint64_t refused;       /* over the daemon's memory budget */
	uint64_t durable;       /* as in DURABLE: batches through this seq are
				   durable (= seq for a daemon without a state
				   dir, whose aggregate is all there is) */
};

/* Every batch of this agent instance through seq is in a written snapshot
 * (or, for a daemon without a state dir, aggregated): it survives a crash. */
struct oxp_durable {
	uint64_t seq;
};

struct oxp_msg {
	uint32_t type;          /* enum oxp_msg_type */
	union {
		struct oxp_hello hello;
		struct oxp_welcome welcome;
		struct oxp_error_msg error;
		struct oxp_bye bye;
		struct oxp_command command;
		struct oxp_reply reply;
		struct oxp_status status;
		struct oxp_query_head query_head;
		struct oxp_query_rows query_rows;
		struct oxp_set_state set_state;
		struct oxp_agent_stats agent_state;
		struct oxp_samples samples;
		struct oxp_samples_ack samples_ack;
		struct oxp_durable durable;
	} u;
};

#endif
