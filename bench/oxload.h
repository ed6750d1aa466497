/*
 * oxload.h - what the sources of oxload share (the tool is described in
 * oxload.c).
 */
#ifndef OXLOAD_H
#define OXLOAD_H

#include <stdatomic.h>
#include <stdint.h>

#include "oxp/oxp.h"

#define TIMEOUT_MS 30000

struct opts {
	const char *mode;
	const char *socket;
	int agents;
	double secs, warmup;
	unsigned stacks, count, pool, depth;
	uint64_t unique;
	int daemon_pid;
	const char *by;
	unsigned limit, reps;
	int print;
	const char *cmd;
	unsigned hz;
};

struct conn {
	int fd;
	struct oxp_reader rd;
	struct oxp_decoder *dec;
	struct oxp_buf out;
	uint64_t seq;
	uint64_t taken, acked;
};

enum { FN_ROOTS = 3 };

struct gen {
	unsigned nfuncs;      /* string ids 0..nfuncs-1 = functions, frame id = same */
	uint32_t module_id;   /* string id */
	uint32_t thread_name; /* string id */
	uint8_t *defined;     /* per frame id */
	int module_defined, threads_defined;
	char (*names)[24];
	struct oxp_str_def *strs;
	struct oxp_frame_def *frames;
	struct oxp_stack *stacks;
	uint32_t *ids;
	struct oxp_thread_def threads[4];
	unsigned nstrs, nframes, nstacks, nids;
	uint32_t tids[4];
};

struct slot {
	_Atomic uint64_t accepted, refused, batches;
	_Atomic int state; /* 0 starting, 1 connected, 2 done, -1 failed */
};

struct shared {
	_Atomic int stop;
	struct slot s[];
};

/* oxload-proc.c */
double now_s(void);
void sleep_s(double s);
double proc_cpu_s(int pid);
long proc_status_kb(int pid, const char *key);

/* oxload-conn.c */
uint64_t mix(uint64_t x);
void die(const char *what, int r);
int send_msg(struct conn *c, const struct oxp_msg *m);
int hello(struct conn *c, const char *sock, int role);
void gen_init(struct gen *g, unsigned nfuncs, unsigned max_stacks, unsigned depth);
void gen_reset(struct gen *g);
void add_stack(struct gen *g, const uint32_t *ids, unsigned depth, unsigned t, uint32_t count);
int send_batch(struct conn *c, struct gen *g, uint64_t samples, uint64_t *acc, uint64_t *ref);

/* oxload-agents.c */
void sum_slots(struct shared *sh, int n, uint64_t *acc, uint64_t *ref, uint64_t *bat);
struct shared *spawn(const struct opts *o,
		     void (*child)(const struct opts *, struct shared *, int));
int reap(int n);

#endif
