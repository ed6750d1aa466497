/*
 * procs.c - process rows: an agent joining (or coming back), leaving, its
 * reports, rows restored from a snapshot, and selectors over rows.
 */
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ox/xalloc.h"

static int str_is(const struct oxd_agg *a, uint32_t id, struct oxp_str s)
{
	return a->strs[id].len == s.len && memcmp(a->strs[id].p, s.ptr, s.len) == 0;
}

/* Whether an exited row is the process that is joining again. */
static int same_process(const struct oxd_agg *a, const struct oxd_proc *p,
			const struct oxd_ident *id)
{
	/* A claim never takes over a row; after an exec the pid and start
	 * time stay but the program is another one: a new row. */
	if (p->live || p->pid != id->pid || p->claimed || id->claimed ||
	    !str_is(a, p->exe, id->exe))
		return 0;
	/* A row from a snapshot has no start time: pid and exe must do. */
	return !p->start_time || !id->start_time || p->start_time == id->start_time;
}

int oxd_agg_proc_attach(struct oxd_agg *a, const struct oxd_ident *id, uint64_t now_ms,
			uint32_t *proc)
{
	size_t i;
	a->dirty++;
	/* The row of this very agent instance, coming back, above all: its
	 * batch seqs must continue there (PROTOCOL.md, DURABLE). */
	for (i = 0; id->instance && i < a->nprocs; i++)
		if (!a->procs[i].live && a->procs[i].pid == id->pid &&
		    a->procs[i].uid == id->uid && a->procs[i].instance == id->instance &&
		    !a->procs[i].removed)
			break;
	if (!id->instance || i == a->nprocs)
		for (i = 0; i < a->nprocs; i++)
			if (same_process(a, &a->procs[i], id))
				break;
	struct oxd_proc probe = { .uid = id->uid };
	if (i == a->nprocs) {
		/* Reuse a forgotten row of any process before adding one. */
		for (i = 0; i < a->nprocs; i++)
			if (a->procs[i].removed && !a->procs[i].live && !a->procs[i].mem)
				break;
	}
	struct oxd_proc *p = i < a->nprocs ? &a->procs[i] : &probe;
	if (i == a->nprocs && oxd__over(a, p, sizeof(struct oxd_proc)))
		return -ENOSPC;
	if (i == a->nprocs) {
		ox_xgrow(&a->procs, &a->cap_procs, a->nprocs + 1, sizeof(*a->procs));
		a->nprocs++;
		memset(&a->procs[i], 0, sizeof(a->procs[i]));
		a->procs[i].removed = 1;
		a->procs[i].uid = id->uid;
		a->mem_used += sizeof(struct oxd_proc);
		oxd__charge_proc(a, &a->procs[i], sizeof(struct oxd_proc));
	}
	p = &a->procs[i];
	int fresh = p->removed;
	if (p->removed) { /* a fresh row, or one reset forgot */
		uint64_t mem = p->mem;
		memset(p, 0, sizeof(*p));
		p->mem = mem;
	}
	p->uid = id->uid;
	uint32_t exe = oxd__str_intern(a, id->exe.ptr ? id->exe.ptr : "", id->exe.len, p);
	uint32_t cmd = oxd__str_intern(a, id->cmdline.ptr ? id->cmdline.ptr : "", id->cmdline.len, p);
	if (exe == REFUSED || cmd == REFUSED) {
		p->removed = (uint8_t)fresh; /* a fresh row stays for reuse */
		return -ENOSPC;
	}
	p->pid = id->pid;
	p->exe = exe;
	p->cmdline = cmd;
	p->claimed = (uint8_t)!!id->claimed;
	p->start_time = id->start_time;
	p->ppid = id->ppid > 0 ? id->ppid : 0;
	p->exited_ms = 0;
	p->live = 1;
	p->state = OXP_AGENT_PAUSED;
	p->connected_ms = now_ms;
	*proc = (uint32_t)i;
	return 0;
}

void oxd_agg_proc_detach(struct oxd_agg *a, uint32_t proc, uint64_t now_ms)
{
	struct oxd_proc *p = &a->procs[proc];
	p->live = 0;
	p->state = OXP_AGENT_EXITED;
	p->exited_ms = now_ms ? now_ms : 1;
	/* The agent's last word may be older than our last ack (it was killed,
	 * or its final report was cut off): what we took is sent, whatever
	 * it last said, and never more than it took. */
	uint64_t took = p->samples + p->dropped_daemon;
	if (p->sent < took)
		p->sent = took;
	if (p->taken < p->sent + p->dropped_agent)
		p->taken = p->sent + p->dropped_agent;
	a->dirty++;
}

void oxd_agg_proc_stats(struct oxd_agg *a, uint32_t proc, const struct oxp_agent_stats *st)
{
	struct oxd_proc *p = &a->procs[proc];
	a->dirty++;
	p->state = st->state;
	p->mode = st->mode;
	p->hz_requested = st->hz_requested;
	p->hz_achieved = st->hz_achieved;
	size_t n = st->source.len < sizeof(p->source) - 1 ? st->source.len : sizeof(p->source) - 1;
	memcpy(p->source, st->source.ptr, n);
	p->source[n] = 0;
	p->dropped_agent = st->dropped;
	p->unwind_fail = st->unwind_fail;
	p->taken = st->taken;
	p->sent = st->sent;
	p->cpu_user_ms = st->cpu_user_ms;
	p->cpu_sys_ms = st->cpu_sys_ms;
	/* Counters below the base: a new agent on this row started from 0. */
	if (st->sampled_user_ms < p->base_user_ms || st->sampled_sys_ms < p->base_sys_ms)
		p->base_user_ms = p->base_sys_ms = 0;
	p->sampled_user_ms = st->sampled_user_ms;
	p->sampled_sys_ms = st->sampled_sys_ms;
	p->cpu_covers = st->cpu_covers;
}

uint32_t oxd_agg_restore_proc(struct oxd_agg *a, const struct oxd_proc *p)
{
	ox_xgrow(&a->procs, &a->cap_procs, a->nprocs + 1, sizeof(*a->procs));
	a->procs[a->nprocs] = *p;
	a->procs[a->nprocs].live = 0;
	a->procs[a->nprocs].mem = 0;
	a->mem_used += sizeof(struct oxd_proc);
	a->dirty++;
	return (uint32_t)a->nprocs++;
}

/* ---- selectors ---- */

/* want is the path or the basename of [p, p + len). */
static int path_is(const char *p, size_t len, struct oxp_str want)
{
	if (len == want.len && memcmp(p, want.ptr, want.len) == 0)
		return 1;
	const char *base = memrchr(p, '/', len);
	base = base ? base + 1 : p;
	size_t n = len - (size_t)(base - p);
	return n == want.len && memcmp(base, want.ptr, want.len) == 0;
}

/* The executable, or the name the program was started by (argv[0], the
 * command line's first word): Debian's redis-server is a link to
 * redis-check-rdb, and a user asks for the name they ran, as pgrep does. */
static int exe_match(const struct oxd_agg *a, const struct oxd_proc *p, struct oxp_str want)
{
	const struct oxd_str *s = &a->strs[p->exe];
	if (path_is(s->p, s->len, want))
		return 1;
	const struct oxd_str *c = &a->strs[p->cmdline];
	const char *end = memchr(c->p, ' ', c->len);
	return c->len && path_is(c->p, end ? (size_t)(end - c->p) : c->len, want);
}

/* ---- process trees ---- */

/* The marks of the last tree asked for, valid while the aggregate is
 * unchanged (the event loop is the only thread). */
static struct {
	const struct oxd_agg *agg;
	uint64_t dirty;
	size_t nprocs;
	int32_t root;
	uint8_t *mark;
	size_t cap;
} tree;

/* Marked pids -> the earliest start time among their marked rows. */
struct pidset {
	int32_t *pid;
	uint64_t *start;
	size_t mask;
};

static size_t pid_slot(const struct pidset *s, int32_t pid)
{
	size_t i = ((uint32_t)pid * 2654435761u) & s->mask;
	while (s->pid[i] && s->pid[i] != pid)
		i = (i + 1) & s->mask;
	return i;
}

static void pid_add(struct pidset *s, int32_t pid, uint64_t start)
{
	size_t i = pid_slot(s, pid);
	if (!s->pid[i] || start < s->start[i])
		s->start[i] = start;
	s->pid[i] = pid;
}

/* Whether r's parent is marked and started no later than r. */
static int parent_marked(const struct pidset *s, const struct oxd_proc *r)
{
	if (r->ppid <= 0)
		return 0;
	size_t i = pid_slot(s, r->ppid);
	return s->pid[i] && (!r->start_time || s->start[i] <= r->start_time);
}

static void tree_compute(const struct oxd_agg *a, int32_t root)
{
	size_t n = a->nprocs, slots = 16;
	while (slots < 2 * n + 2)
		slots <<= 1;
	struct pidset s = { ox_xcalloc(slots, sizeof(int32_t)), ox_xcalloc(slots, sizeof(uint64_t)),
			    slots - 1 };
	ox_xgrow(&tree.mark, &tree.cap, n + 1, 1);
	memset(tree.mark, 0, n + 1);
	for (size_t i = 0; i < n; i++)
		if (!a->procs[i].removed && a->procs[i].pid == root) {
			tree.mark[i] = 1;
			pid_add(&s, root, a->procs[i].start_time);
		}
	/* One generation of descendants per pass. */
	for (int changed = 1; changed;) {
		changed = 0;
		for (size_t i = 0; i < n; i++) {
			const struct oxd_proc *r = &a->procs[i];
			if (tree.mark[i] || r->removed || !parent_marked(&s, r))
				continue;
			tree.mark[i] = 1;
			pid_add(&s, r->pid, r->start_time);
			changed = 1;
		}
	}
	free(s.pid);
	free(s.start);
	tree.agg = a;
	tree.dirty = a->dirty;
	tree.nprocs = n;
	tree.root = root;
}

int oxd_agg_in_tree(const struct oxd_agg *a, const struct oxd_proc *p, int32_t root)
{
	if (tree.agg != a || tree.dirty != a->dirty || tree.nprocs != a->nprocs ||
	    tree.root != root)
		tree_compute(a, root);
	size_t i = (size_t)(p - a->procs);
	return i < a->nprocs && tree.mark[i];
}

int oxd_agg_proc_match(const struct oxd_agg *a, const struct oxd_proc *p,
		       const struct oxp_selector *sel)
{
	if (p->removed)
		return 0;
	if (sel->tree > 0 && !oxd_agg_in_tree(a, p, sel->tree))
		return 0;
	if (sel->exe.len && (p->claimed || !exe_match(a, p, sel->exe)))
		return 0;
	if (!sel->npids)
		return 1;
	for (uint32_t i = 0; i < sel->npids; i++)
		if (sel->pids[i] == p->pid)
			return 1;
	return 0;
}
