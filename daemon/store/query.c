/*
 * query.c - flat profiles, groupings and folded stacks.
 *
 * An unfiltered query by function or stack reads the counts the aggregate
 * keeps incrementally; anything else makes one pass over the entries.
 * "total" counts a key once per sample however often it occurs in the
 * stack (recursion), using a mark per key.
 */
#include "query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ox/xalloc.h"

#define CLAIMED "[claimed] " /* before an exe the kernel could not vouch for */

#define CHUNK_BYTES (512u << 10)
#define CHUNK_ROWS 16384u

struct qrow {
	uint32_t key;
	uint64_t self, total;
};

struct oxd_query {
	uint8_t by, sort;
	uint64_t generation;
	uint32_t nstrs;             /* when counted: claimed exes' keys start here */
	struct oxp_query_head head;
	struct qrow *rows;
	size_t nrows, next;
	struct oxp_buf names;       /* scratch for one chunk's names */
	struct oxp_row *out;        /* scratch rows of one chunk */
	struct defs *defs;          /* by=frames only */
};

/* by=frames: which frames and modules the client knows, and one chunk's
 * new definitions (their strings point into the aggregate). */
struct defs {
	uint8_t *frame_sent, *mod_sent;
	struct oxp_qframe *frames;
	size_t nframes, cap_frames;
	struct oxp_qmodule *mods;
	size_t nmods, cap_mods;
	size_t bytes, objects;      /* of the chunk so far */
};

struct filter {
	uint8_t *proc_ok;   /* per proc */
	uint8_t *thread_ok; /* per thread */
	int any;            /* some filter is set */
};

struct counts {
	uint64_t *self, *total;
	uint32_t *mark;
	size_t nkeys;
	uint64_t *proc_samples;
};

/* ---- filtering ---- */

static int thread_match(const struct oxd_agg *a, const struct oxd_thread *t,
			struct oxp_str want)
{
	char num[16];
	if (want.len < sizeof(num)) {
		memcpy(num, want.ptr, want.len);
		num[want.len] = 0;
		char *end;
		unsigned long n = strtoul(num, &end, 10);
		if (want.len && !*end && n == t->tid)
			return 1;
	}
	const struct oxd_str *s = &a->strs[t->name];
	return s->len == want.len && memcmp(s->p, want.ptr, want.len) == 0;
}

/* 0, or -OXP_ENOMATCH when pids/exe name no process at all. */
static int filter_init(struct filter *f, const struct oxd_agg *a, const struct oxp_selector *sel)
{
	f->any = sel->npids || sel->exe.len || sel->thread.len || sel->tree;
	f->proc_ok = ox_xcalloc(a->nprocs + 1, 1);
	f->thread_ok = ox_xcalloc(a->nthreads + 1, 1);
	size_t hits = 0;
	for (size_t i = 0; i < a->nprocs; i++)
		hits += f->proc_ok[i] = (uint8_t)oxd_agg_proc_match(a, &a->procs[i], sel);
	for (size_t i = 0; i < a->nthreads; i++)
		f->thread_ok[i] = f->proc_ok[a->threads[i].proc] &&
			(!sel->thread.len || thread_match(a, &a->threads[i], sel->thread));
	return (sel->npids || sel->exe.len || sel->tree) && !hits ? -OXP_ENOMATCH : 0;
}

static void filter_destroy(struct filter *f)
{
	free(f->proc_ok);
	free(f->thread_ok);
}

/* ---- counting ---- */

static size_t nkeys_for(const struct oxd_agg *a, uint8_t by)
{
	switch (by) {
	case OXP_BY_FUNCTION: return a->nfns;
	case OXP_BY_MODULE: return a->nstrs;
	case OXP_BY_PROCESS: return a->nprocs;
	case OXP_BY_EXE: return a->nstrs * 2; /* claimed exes apart: see count_entry */
	case OXP_BY_THREAD: return a->nthreads;
	case OXP_BY_FRAMES: return a->nentries;
	default: return a->nstacks;
	}
}

/* Count one entry into the per-key arrays. */
static void count_entry(const struct oxd_agg *a, uint8_t by, const struct oxd_entry *e,
			uint32_t entry, uint32_t mark, struct counts *c)
{
	/* mark: unique per counted row (by=frames keys are entry indexes). */
	const struct oxd_thread *t = &a->threads[e->thread];
	uint32_t key;
	switch (by) {
	case OXP_BY_FUNCTION:
	case OXP_BY_MODULE: {
		const struct oxd_stack *s = &a->stacks[e->stack];
		const uint32_t *f = oxd_agg_stack_frames(a, e->stack);
		for (uint32_t i = 0; i < s->n; i++) {
			const struct oxd_frame *fr = &a->frames[f[i]];
			key = by == OXP_BY_FUNCTION ? fr->fn : fr->module;
			if (i == 0)
				c->self[key] += e->count;
			if (c->mark[key] != mark) {
				c->mark[key] = mark;
				c->total[key] += e->count;
			}
		}
		return;
	}
	case OXP_BY_PROCESS: key = t->proc; break;
	case OXP_BY_EXE: {
		/* A claimed exe is a row of its own, never added to the real one's. */
		const struct oxd_proc *p = &a->procs[t->proc];
		key = p->exe + (p->claimed ? (uint32_t)a->nstrs : 0);
		break;
	}
	case OXP_BY_THREAD: key = e->thread; break;
	case OXP_BY_FRAMES: key = entry; break;
	default: key = e->stack; break;
	}
	c->self[key] += e->count;
	c->total[key] += e->count;
}

/* A window: the cells of slots [lo, hi). */
static uint64_t count_window(const struct oxd_agg *a, uint8_t by, const struct filter *f,
			     uint32_t lo, uint32_t hi, struct counts *c)
{
	const struct oxd_hist *h = &a->hist;
	uint32_t s0 = h->slots[lo].start, s1 = h->slots[hi - 1].start;
	uint64_t total = 0;
	for (size_t i = 0; i < h->ncells; i++) {
		const struct oxd_hcell *k = &h->cells[i];
		if (k->start < s0 || k->start > s1 || !k->count)
			continue;
		struct oxd_entry e = a->entries[k->entry];
		if (!f->thread_ok[e.thread])
			continue;
		e.count = k->count;
		count_entry(a, by, &e, k->entry, (uint32_t)i + 1, c);
		c->proc_samples[a->threads[e.thread].proc] += e.count;
		total += e.count;
	}
	return total;
}

/* Fill counts; returns the total samples that matched. */
static uint64_t count_all(const struct oxd_agg *a, uint8_t by, const struct filter *f,
			  struct counts *c)
{
	uint64_t total = 0;
	if (!f->any && (by == OXP_BY_FUNCTION || by == OXP_BY_STACK)) {
		/* The aggregate keeps these: no pass over the entries. */
		for (size_t k = 0; k < c->nkeys; k++) {
			c->self[k] = by == OXP_BY_FUNCTION ? a->fns[k].self : a->stacks[k].count;
			c->total[k] = by == OXP_BY_FUNCTION ? a->fns[k].total : a->stacks[k].count;
		}
		for (size_t i = 0; i < a->nprocs; i++)
			if (!a->procs[i].removed) {
				c->proc_samples[i] = a->procs[i].samples;
				total += a->procs[i].samples;
			}
		return total;
	}
	for (size_t i = 0; i < a->nentries; i++) {
		const struct oxd_entry *e = &a->entries[i];
		if (!f->thread_ok[e->thread] || !e->count)
			continue;
		count_entry(a, by, e, (uint32_t)i, (uint32_t)i + 1, c);
		c->proc_samples[a->threads[e->thread].proc] += e->count;
		total += e->count;
	}
	return total;
}

/* ---- sorting ---- */

static int sort_by_total;

/* Whether x ranks before y. */
static int better(const struct qrow *x, const struct qrow *y)
{
	uint64_t x1 = sort_by_total ? x->total : x->self, y1 = sort_by_total ? y->total : y->self;
	uint64_t x2 = sort_by_total ? x->self : x->total, y2 = sort_by_total ? y->self : y->total;
	if (x1 != y1)
		return x1 > y1;
	if (x2 != y2)
		return x2 > y2;
	return x->key < y->key;
}

static int cmp_rows(const void *p, const void *q)
{
	return better(p, q) ? -1 : better(q, p) ? 1 : 0;
}

/* Keep the best k of rows in a heap whose root is the worst kept. */
static void heap_down(struct qrow *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, w = i;
		if (l < n && better(&h[w], &h[l]))
			w = l;
		if (r < n && better(&h[w], &h[r]))
			w = r;
		if (w == i)
			return;
		struct qrow t = h[i];
		h[i] = h[w];
		h[w] = t;
		i = w;
	}
}

/* Sort rows[0..n) and keep the first limit (0: all); returns the count. */
static size_t top(struct qrow *rows, size_t n, size_t limit)
{
	if (limit && limit < n) {
		for (size_t i = limit / 2 + 1; i-- > 0;)
			heap_down(rows, limit, i);
		for (size_t i = limit; i < n; i++)
			if (better(&rows[i], &rows[0])) {
				rows[0] = rows[i];
				heap_down(rows, limit, 0);
			}
		n = limit;
	}
	qsort(rows, n, sizeof(*rows), cmp_rows);
	return n;
}

/* ---- the query ---- */

/* The CPU time of the processes the selector names (a thread selector
 * still counts whole processes), and the part of it samples stand for. */
static void add_cpu(const struct oxd_proc *p, struct oxp_query_head *h)
{
	if (p->mode != OXP_MODE_CPU)
		return;
	uint64_t u = oxd_proc_user_ms(p), k = oxd_proc_sys_ms(p);
	h->user_ms += u;
	h->sys_ms += k;
	if (p->cpu_covers & OXP_CPU_USER)
		h->covered_ms += u;
	if (p->cpu_covers & OXP_CPU_SYSTEM)
		h->covered_ms += k;
}

static void fill_head(const struct oxd_agg *a, const struct filter *f, const struct counts *c,
		      struct oxp_query_head *h)
{
	for (size_t i = 0; i < a->nprocs; i++) {
		const struct oxd_proc *p = &a->procs[i];
		if (f->proc_ok[i])
			add_cpu(p, h);
		if (!c->proc_samples[i])
			continue;
		h->nprocs++;
		if (p->first_ms && (!h->first_ms || p->first_ms < h->first_ms))
			h->first_ms = p->first_ms;
		if (p->last_ms > h->last_ms)
			h->last_ms = p->last_ms;
	}
}

/* A window's head: first/last within it; the CPU time the processes
 * report is not kept per slot, so none is claimed (0: unknown). */
static void window_head(struct oxp_query_head *h)
{
	if (h->first_ms < h->since_ms)
		h->first_ms = h->since_ms;
	if (h->last_ms > h->until_ms)
		h->last_ms = h->until_ms;
	if (!h->total)
		h->first_ms = h->last_ms = 0;
	h->user_ms = h->sys_ms = h->covered_ms = 0;
}

static void counts_destroy(struct counts *c)
{
	free(c->self);
	free(c->total);
	free(c->mark);
	free(c->proc_samples);
}

int oxd_query_new(struct oxd_agg *a, const struct oxp_command *cmd, struct oxd_query **out)
{
	if (cmd->by > OXP_BY_FRAMES || cmd->sort > OXP_SORT_TOTAL)
		return -EINVAL;
	struct filter f;
	int r = filter_init(&f, a, &cmd->sel);
	if (r < 0) {
		filter_destroy(&f);
		return r;
	}
	struct counts c = { .nkeys = nkeys_for(a, cmd->by) };
	c.self = ox_xcalloc(c.nkeys + 1, sizeof(*c.self));
	c.total = ox_xcalloc(c.nkeys + 1, sizeof(*c.total));
	c.mark = ox_xcalloc(c.nkeys + 1, sizeof(*c.mark));
	c.proc_samples = ox_xcalloc(a->nprocs + 1, sizeof(*c.proc_samples));
	struct oxd_query *q = ox_xcalloc(1, sizeof(*q));
	q->by = cmd->by;
	q->sort = cmd->sort;
	q->generation = a->generation;
	q->nstrs = (uint32_t)a->nstrs;
	if (cmd->since_ms || cmd->until_ms) {
		uint32_t lo, hi;
		if (oxd_hist_range(a, cmd->since_ms, cmd->until_ms, &lo, &hi)) {
			q->head.total = count_window(a, cmd->by, &f, lo, hi, &c);
			q->head.since_ms = (uint64_t)a->hist.slots[lo].start * 1000;
			q->head.until_ms = ((uint64_t)a->hist.slots[hi - 1].start +
					    a->hist.slots[hi - 1].width) * 1000;
		} else {
			/* No slot: an empty window, said as asked. */
			q->head.since_ms = cmd->since_ms;
			q->head.until_ms = cmd->until_ms ? cmd->until_ms : cmd->since_ms;
		}
		fill_head(a, &f, &c, &q->head);
		window_head(&q->head);
	} else {
		q->head.total = count_all(a, cmd->by, &f, &c);
		fill_head(a, &f, &c, &q->head);
	}
	q->rows = ox_xmalloc((c.nkeys + 1) * sizeof(*q->rows));
	for (size_t k = 0; k < c.nkeys; k++)
		if (c.total[k])
			q->rows[q->nrows++] = (struct qrow){ (uint32_t)k, c.self[k], c.total[k] };
	sort_by_total = cmd->sort == OXP_SORT_TOTAL;
	q->nrows = top(q->rows, q->nrows, cmd->limit);
	q->head.nrows = (uint32_t)q->nrows;
	oxp_buf_init(&q->names);
	q->out = ox_xmalloc(CHUNK_ROWS * sizeof(*q->out));
	if (cmd->by == OXP_BY_FRAMES) {
		q->defs = ox_xcalloc(1, sizeof(*q->defs));
		q->defs->frame_sent = ox_xcalloc(a->nframes + 1, 1);
		q->defs->mod_sent = ox_xcalloc(a->nstrs + 1, 1);
	}
	counts_destroy(&c);
	filter_destroy(&f);
	*out = q;
	return 0;
}

void oxd_query_free(struct oxd_query *q)
{
	if (!q)
		return;
	free(q->rows);
	free(q->out);
	oxp_buf_destroy(&q->names);
	if (q->defs) {
		free(q->defs->frame_sent);
		free(q->defs->mod_sent);
		free(q->defs->frames);
		free(q->defs->mods);
		free(q->defs);
	}
	free(q);
}

void oxd_query_head(const struct oxd_query *q, struct oxp_query_head *h)
{
	*h = q->head;
}

/* ---- names ---- */

static void put(struct oxp_buf *b, const char *s, size_t n)
{
	if (oxp_buf_reserve(b, n) < 0)
		abort(); /* out of memory is fatal in the daemon */
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

static const char *func_name(const struct oxd_agg *a, uint32_t func)
{
	return a->strs[func].len ? a->strs[func].p : "[unknown]";
}

/* The folded name root;...;leaf, cut at the root end to fit OXP_MAX_STR. */
static void put_folded(struct oxp_buf *b, const struct oxd_agg *a, uint32_t stack)
{
	const struct oxd_stack *s = &a->stacks[stack];
	const uint32_t *f = oxd_agg_stack_frames(a, stack);
	size_t budget = OXP_MAX_STR;
	uint32_t fit = 0; /* frames, counted from the leaf, that fit */
	while (fit < s->n) {
		size_t n = strlen(func_name(a, a->frames[f[fit]].func)) + 1;
		if (n > budget)
			break;
		budget -= n;
		fit++;
	}
	if (!fit)
		put(b, "[no frames]", 11);
	for (uint32_t i = fit; i-- > 0;) {
		const char *nm = func_name(a, a->frames[f[i]].func);
		put(b, nm, strlen(nm));
		if (i)
			put(b, ";", 1);
	}
}

/* Definitions of the frames and modules of stack that the client does not
 * know yet, into q->defs. */
static void frames_defs(struct oxd_query *q, const struct oxd_agg *a, uint32_t stack)
{
	struct defs *d = q->defs;
	const uint32_t *f = oxd_agg_stack_frames(a, stack);
	for (uint32_t i = 0; i < a->stacks[stack].n; i++) {
		const struct oxd_frame *fr = &a->frames[f[i]];
		if (!d->mod_sent[fr->module]) {
			d->mod_sent[fr->module] = 1;
			uint32_t b = oxd_agg_build_id(a, fr->module);
			const struct oxd_str *p = &a->strs[fr->module];
			struct oxp_str bid = b == OXD_NONE ? (struct oxp_str){ "", 0 }
				: (struct oxp_str){ a->strs[b].p, a->strs[b].len };
			ox_xgrow(&d->mods, &d->cap_mods, d->nmods + 1, sizeof(*d->mods));
			d->mods[d->nmods++] = (struct oxp_qmodule){ fr->module, { p->p, p->len }, bid,
								    oxd_agg_module_load(a, fr->module) };
			d->bytes += p->len + bid.len + 16;
			d->objects += 4;
		}
		if (d->frame_sent[f[i]])
			continue;
		d->frame_sent[f[i]] = 1;
		/* Agents cut names at OXP_MAX_NAME; a hostile one may not. */
		const struct oxd_str *fn = &a->strs[fr->func];
		uint32_t n = fn->len < OXP_MAX_NAME ? fn->len : OXP_MAX_NAME;
		ox_xgrow(&d->frames, &d->cap_frames, d->nframes + 1, sizeof(*d->frames));
		d->frames[d->nframes++] = (struct oxp_qframe){ f[i], { fn->p, n }, fr->module,
							      fr->offset };
		d->bytes += n + 24;
		d->objects += 5;
	}
}

/* A by=frames row: the thread's name, its process's exe as the module,
 * the stack's frame ids (leaf first, as the aggregate keeps them). */
static void frames_row(struct oxd_query *q, const struct oxd_agg *a, const struct qrow *r,
		       struct oxp_row *o, const char **mod)
{
	const struct oxd_entry *e = &a->entries[r->key];
	const struct oxd_thread *t = &a->threads[e->thread];
	const struct oxd_proc *p = &a->procs[t->proc];
	put(&q->names, a->strs[t->name].p, a->strs[t->name].len);
	*mod = a->strs[p->exe].p;
	o->pid = p->pid;
	o->tid = (int32_t)t->tid;
	o->nframes = a->stacks[e->stack].n;
	o->frames = oxd_agg_stack_frames(a, e->stack);
	frames_defs(q, a, e->stack);
	q->defs->objects += 9 + o->nframes;
	q->defs->bytes += 16 + 5 * (size_t)o->nframes;
}

/* Name and module of row r into names; offsets stand in for pointers until
 * the buffer stops moving. */
static void row_names(struct oxd_query *q, const struct oxd_agg *a, const struct qrow *r,
		      struct oxp_row *o)
{
	size_t n0 = q->names.len;
	const char *mod = "";
	*o = (struct oxp_row){ .self = r->self, .total = r->total };
	switch (q->by) {
	case OXP_BY_FUNCTION: {
		const char *nm = func_name(a, a->fns[r->key].func);
		put(&q->names, nm, strlen(nm));
		mod = a->strs[a->fns[r->key].module].p;
		break;
	}
	case OXP_BY_MODULE:
		put(&q->names, a->strs[r->key].p, a->strs[r->key].len);
		break;
	case OXP_BY_EXE: {
		uint32_t k = r->key < q->nstrs ? r->key : r->key - q->nstrs;
		if (k != r->key)
			put(&q->names, CLAIMED, strlen(CLAIMED));
		put(&q->names, a->strs[k].p, a->strs[k].len);
		break;
	}
	case OXP_BY_PROCESS: {
		const struct oxd_proc *p = &a->procs[r->key];
		if (p->claimed)
			put(&q->names, CLAIMED, strlen(CLAIMED));
		put(&q->names, a->strs[p->exe].p, a->strs[p->exe].len);
		o->pid = p->pid;
		break;
	}
	case OXP_BY_THREAD: {
		const struct oxd_thread *t = &a->threads[r->key];
		put(&q->names, a->strs[t->name].p, a->strs[t->name].len);
		o->pid = a->procs[t->proc].pid;
		o->tid = (int32_t)t->tid;
		break;
	}
	case OXP_BY_FRAMES:
		frames_row(q, a, r, o, &mod);
		break;
	default:
		put_folded(&q->names, a, r->key);
	}
	size_t n1 = q->names.len;
	put(&q->names, mod, strlen(mod));
	o->name = (struct oxp_str){ (const char *)(uintptr_t)n0, (uint32_t)(n1 - n0) };
	o->module = (struct oxp_str){ (const char *)(uintptr_t)n1, (uint32_t)(q->names.len - n1) };
}

int oxd_query_next(struct oxd_query *q, const struct oxd_agg *a, struct oxp_buf *out)
{
	if (q->generation != a->generation)
		return -ESTALE;
	if (q->next >= q->nrows)
		return 0;
	oxp_buf_reset(&q->names);
	size_t n = 0;
	if (q->defs)
		q->defs->nframes = q->defs->nmods = q->defs->bytes = q->defs->objects = 0;
	/* by=frames: definitions count too, and a row may bring 512 of them
	 * (each cut to OXP_MAX_NAME), so stop at half a frame's worth. */
	while (q->next + n < q->nrows && n < CHUNK_ROWS && q->names.len < CHUNK_BYTES &&
	       (!q->defs || (q->defs->bytes + q->names.len < OXP_FRAME_MAX / 4 &&
			     q->defs->objects < OXP_MAX_OBJECTS / 2))) {
		row_names(q, a, &q->rows[q->next + n], &q->out[n]);
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		q->out[i].name.ptr = (const char *)q->names.data + (uintptr_t)q->out[i].name.ptr;
		q->out[i].module.ptr = (const char *)q->names.data + (uintptr_t)q->out[i].module.ptr;
	}
	struct oxp_msg m = { .type = OXP_MSG_QUERY_ROWS };
	for (;;) {
		m.u.query_rows = (struct oxp_query_rows){ .nrows = (uint32_t)n, .rows = q->out };
		if (q->defs) {
			m.u.query_rows.nframes = (uint32_t)q->defs->nframes;
			m.u.query_rows.frames = q->defs->frames;
			m.u.query_rows.nmodules = (uint32_t)q->defs->nmods;
			m.u.query_rows.modules = q->defs->mods;
		}
		int r = oxp_encode(out, &m);
		if (r == 0)
			break;
		if (r != -EMSGSIZE || n == 1)
			return r == -ENOMEM ? (abort(), r) : r;
		n /= 2; /* rows with long names: fewer per frame */
	}
	q->next += n;
	return q->next < q->nrows;
}
