/* flame.c - the flame graph page: merge stacks into a tree, embed it; see flame.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "flame.h"
#include "flame-page.h"
#include "format.h"
#include "utf8.h"
#include "ox/xalloc.h"

#define DEFAULT_TITLE "oxprof profile"

void oxc_flame_fact(struct oxc_flame *p, const char *label, const char *fmt, ...)
{
	if (p->nfacts >= OXC_FLAME_MAX_FACTS)
		return;
	struct oxc_flame_fact *f = &p->facts[p->nfacts++];
	snprintf(f->label, sizeof(f->label), "%s", label);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->value, sizeof(f->value), fmt, ap);
	va_end(ap);
}

/* ---- the call tree ---- */

/*
 * Names are interned (one id per distinct string); tree nodes are found by
 * (parent, name id) in one open-addressing table.  Node 0 is the root.
 */
/* A node's key beside its id, so a lookup touches one cache line. */
struct nslot {
	uint32_t parent, name;
	uint32_t id;            /* node id + 1, 0 = empty */
};

struct tree {
	/* names */
	char **names;
	uint32_t *name_len;
	size_t nnames, names_cap;
	uint32_t *name_slots;   /* id + 1, 0 = empty */
	size_t name_mask;
	/* nodes */
	uint32_t *parent, *name;
	uint64_t *self;
	size_t nnodes, nodes_cap;
	struct nslot *node_slots;
	size_t node_mask;
};

/* Eight bytes a step: names are long (C++ ones often 100 bytes and more)
 * and every frame of every stack is hashed once. */
static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 29;
	}
	w = 0;
	memcpy(&w, s, n);
	h = (h ^ w) * 0x94d049bb133111ebull;
	return h ^ (h >> 32);
}

/* splitmix64's finalizer: every input bit reaches the low bits, which
 * pick the slot (a plain multiply would leave the parent out of them). */
static uint64_t hash_pair(uint32_t a, uint32_t b)
{
	uint64_t h = (uint64_t)a << 32 | b;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

/* A table of 2^k slots for at least n entries at most half full. */
static uint32_t *slots_new(size_t n, size_t *mask)
{
	size_t cap = 64;
	while (cap < 2 * n)
		cap *= 2;
	*mask = cap - 1;
	return ox_xcalloc(cap, sizeof(uint32_t));
}

static void names_rehash(struct tree *t)
{
	free(t->name_slots);
	t->name_slots = slots_new(t->nnames + 1, &t->name_mask);
	for (size_t id = 0; id < t->nnames; id++) {
		size_t i = hash_bytes(t->names[id], t->name_len[id]) & t->name_mask;
		while (t->name_slots[i])
			i = (i + 1) & t->name_mask;
		t->name_slots[i] = (uint32_t)id + 1;
	}
}

/* The slot of name s: where it is, or the empty one where it would go. */
static size_t name_slot(const struct tree *t, const char *s, size_t n)
{
	size_t i = hash_bytes(s, n) & t->name_mask;
	for (uint32_t v; (v = t->name_slots[i]); i = (i + 1) & t->name_mask)
		if (t->name_len[v - 1] == n && !memcmp(t->names[v - 1], s, n))
			break;
	return i;
}

static uint32_t name_id(struct tree *t, const char *s, size_t n)
{
	size_t i = name_slot(t, s, n);
	if (t->name_slots[i])
		return t->name_slots[i] - 1;
	if (t->nnames == t->names_cap) {
		size_t cap = t->names_cap;
		ox_xgrow(&t->names, &cap, t->nnames + 1, sizeof(*t->names));
		ox_xgrow(&t->name_len, &t->names_cap, t->nnames + 1, sizeof(*t->name_len));
	}
	uint32_t id = (uint32_t)t->nnames++;
	t->names[id] = ox_xstrndup(s, n);
	t->name_len[id] = (uint32_t)n;
	t->name_slots[i] = id + 1;
	if (2 * t->nnames > t->name_mask)
		names_rehash(t);
	return id;
}

static void nodes_rehash(struct tree *t)
{
	size_t cap = 64;
	while (cap < 2 * (t->nnodes + 1))
		cap *= 2;
	free(t->node_slots);
	t->node_slots = ox_xcalloc(cap, sizeof(*t->node_slots));
	t->node_mask = cap - 1;
	for (size_t id = 1; id < t->nnodes; id++) {
		size_t i = hash_pair(t->parent[id], t->name[id]) & t->node_mask;
		while (t->node_slots[i].id)
			i = (i + 1) & t->node_mask;
		t->node_slots[i] = (struct nslot){ t->parent[id], t->name[id], (uint32_t)id + 1 };
	}
}

static uint32_t node_new(struct tree *t, uint32_t parent, uint32_t name)
{
	if (t->nnodes == t->nodes_cap) {
		size_t c1 = t->nodes_cap, c2 = t->nodes_cap;
		ox_xgrow(&t->parent, &c1, t->nnodes + 1, sizeof(*t->parent));
		ox_xgrow(&t->name, &c2, t->nnodes + 1, sizeof(*t->name));
		ox_xgrow(&t->self, &t->nodes_cap, t->nnodes + 1, sizeof(*t->self));
	}
	uint32_t id = (uint32_t)t->nnodes++;
	t->parent[id] = parent;
	t->name[id] = name;
	t->self[id] = 0;
	return id;
}

static uint32_t child(struct tree *t, uint32_t parent, uint32_t name)
{
	size_t i = hash_pair(parent, name) & t->node_mask;
	for (struct nslot *e; (e = &t->node_slots[i])->id; i = (i + 1) & t->node_mask)
		if (e->parent == parent && e->name == name)
			return e->id - 1;
	uint32_t id = node_new(t, parent, name);
	t->node_slots[i] = (struct nslot){ parent, name, id + 1 };
	if (2 * t->nnodes > t->node_mask)
		nodes_rehash(t);
	return id;
}

static void tree_init(struct tree *t)
{
	memset(t, 0, sizeof(*t));
	t->name_slots = slots_new(1, &t->name_mask);
	node_new(t, 0, 0); /* the root; its name is never written */
	nodes_rehash(t);
}

static void tree_destroy(struct tree *t)
{
	for (size_t i = 0; i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	free(t->name_len);
	free(t->name_slots);
	free(t->parent);
	free(t->name);
	free(t->self);
	free(t->node_slots);
}

/* Add one "root;...;leaf" stack of count samples. */
static void tree_add(struct tree *t, const char *folded, uint64_t count)
{
	uint32_t node = 0;
	for (const char *s = folded;;) {
		const char *e = strchr(s, ';');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		node = child(t, node, name_id(t, s, n));
		if (!e)
			break;
		s = e + 1;
	}
	t->self[node] += count;
}

/* ---- writing ---- */

/* Write s as a JSON string that is also safe inside an HTML script
 * element: '<', '>' and '&' as \u escapes, invalid UTF-8 as U+FFFD. */
static void json_str(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	fputc('"', f);
	while (p < end) {
		/* A run of bytes that need nothing goes out in one write. */
		const unsigned char *run = p;
		while (p < end && *p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '<' &&
		       *p != '>' && *p != '&')
			p++;
		if (p > run)
			fwrite(run, 1, (size_t)(p - run), f);
		if (p == end)
			break;
		unsigned char c = *p;
		if (c >= 0x80) {
			size_t n = oxc_u8seq(p, (size_t)(end - p));
			if (n)
				fwrite(p, 1, n, f);
			else
				fputs("\\ufffd", f);
			p += n ? n : 1;
		} else {
			if (c == '"' || c == '\\')
				fprintf(f, "\\%c", c);
			else
				fprintf(f, "\\u%04x", c);
			p++;
		}
	}
	fputc('"', f);
}

/*
 * The tree's numbers as text: each a little-endian run of 5-bit digits,
 * one character each from a 64-letter alphabet that JSON and HTML leave
 * alone; letters 0-31 end a number, 32-63 say more digits follow.  Most
 * nodes take 5 characters (name id, depth step, self), against 12 or so
 * as JSON numbers, and the page decodes a string faster than JSON.parse
 * builds an array of millions of numbers.
 */
static const char VAR_ALPHABET[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void put_var(FILE *f, uint64_t v)
{
	char buf[16];
	size_t n = 0;
	while (v >= 32) {
		buf[n++] = VAR_ALPHABET[32 + (v & 31)];
		v >>= 5;
	}
	buf[n++] = VAR_ALPHABET[v];
	fwrite(buf, 1, n, f);
}

static int by_name(const void *a, const void *b, void *names)
{
	char *const *nm = names;
	return strcmp(nm[*(const uint32_t *)a], nm[*(const uint32_t *)b]);
}

/* rank[name id]: the name's place in byte order, so siblings sort by name
 * with integer compares. */
static uint32_t *name_ranks(const struct tree *t)
{
	uint32_t *order = ox_xmalloc((t->nnames + 1) * sizeof(*order));
	uint32_t *rank = ox_xmalloc((t->nnames + 1) * sizeof(*rank));
	for (size_t i = 0; i < t->nnames; i++)
		order[i] = (uint32_t)i;
	qsort_r(order, t->nnames, sizeof(*order), by_name, t->names);
	for (size_t i = 0; i < t->nnames; i++)
		rank[order[i]] = (uint32_t)i;
	free(order);
	return rank;
}

struct sibling_order {
	const uint32_t *rank;   /* by name id */
	const uint32_t *name;   /* by node id */
};

static int by_child_name(const void *a, const void *b, void *arg)
{
	const struct sibling_order *o = arg;
	uint32_t x = o->rank[o->name[*(const uint32_t *)a]];
	uint32_t y = o->rank[o->name[*(const uint32_t *)b]];
	return x < y ? -1 : x > y;
}

/* Every node's children, in name order: those of node v are
 * kids[first[v]] up to kids[first[v + 1]].  Gathered per parent with a
 * counting sort.  The caller frees both arrays. */
static void children(const struct tree *t, uint32_t **first_out, uint32_t **kids_out)
{
	size_t n = t->nnodes;
	uint32_t *first = ox_xcalloc(n + 1, sizeof(*first));
	uint32_t *kids = ox_xmalloc(n * sizeof(*kids));
	uint32_t *fill = ox_xmalloc(n * sizeof(*fill));
	for (size_t i = 1; i < n; i++)
		first[t->parent[i] + 1]++;
	for (size_t i = 0; i < n; i++)
		first[i + 1] += first[i];
	memcpy(fill, first, n * sizeof(*fill));
	for (size_t i = 1; i < n; i++)
		kids[fill[t->parent[i]]++] = (uint32_t)i;
	free(fill);
	uint32_t *rank = name_ranks(t);
	struct sibling_order o = { rank, t->name };
	for (size_t i = 0; i < n; i++)
		if (first[i + 1] - first[i] > 1)
			qsort_r(kids + first[i], first[i + 1] - first[i], sizeof(*kids), by_child_name, &o);
	free(rank);
	*first_out = first;
	*kids_out = kids;
}

/*
 * "tree": name id, depth step, self for every node but the root, in
 * pre-order with siblings in name order (as flamegraph.pl sorts them, so a
 * function keeps its place between two profiles).  Walked with an explicit
 * stack: a stack may be 512 frames deep.
 */
static void write_tree(const struct tree *t, FILE *f)
{
	uint32_t *first, *kids;
	children(t, &first, &kids); /* the root always exists: nnodes >= 1 */
	uint32_t *stack = ox_xmalloc(t->nnodes * sizeof(*stack));
	uint16_t *depth = ox_xmalloc(t->nnodes * sizeof(*depth));
	size_t sp = 0;
	depth[0] = 0;
	stack[sp++] = 0;
	uint32_t prev = 0; /* depth of the node written last */
	while (sp) {
		uint32_t v = stack[--sp];
		if (v) {
			put_var(f, t->name[v]);
			put_var(f, prev + 1 - depth[v]); /* 0: a child of the last */
			put_var(f, t->self[v]);
			prev = depth[v];
		}
		/* Push children in reverse so they pop in name order. */
		for (uint32_t k = first[v + 1]; k-- > first[v];) {
			depth[kids[k]] = (uint16_t)(depth[v] + 1);
			stack[sp++] = kids[k];
		}
	}
	free(first);
	free(kids);
	free(stack);
	free(depth);
}

/* "mods": module names; "nmod": for each name, its module's index or -1. */
static void write_modules(const struct tree *t, const struct oxc_report *funcs, FILE *f)
{
	int32_t *nmod = ox_xmalloc((t->nnames + 1) * sizeof(*nmod));
	for (size_t i = 0; i < t->nnames; i++)
		nmod[i] = -1;
	struct tree mods; /* only its name table */
	tree_init(&mods);
	fputs(",\n\"mods\":[", f);
	for (uint32_t r = 0; funcs && r < funcs->nrows; r++) {
		const struct oxc_row *w = &funcs->rows[r];
		/* Only look up: a name not in the tree has no node to describe. */
		uint32_t v = t->name_slots[name_slot(t, w->name, strlen(w->name))];
		if (!v || nmod[v - 1] >= 0)
			continue; /* rows come busiest first: the first module wins */
		size_t before = mods.nnames;
		uint32_t m = name_id(&mods, w->module, strlen(w->module));
		if (mods.nnames != before) {
			if (m)
				fputc(',', f);
			json_str(f, w->module, strlen(w->module));
		}
		nmod[v - 1] = (int32_t)m;
	}
	fputs("],\n\"nmod\":[", f);
	for (size_t i = 0; i < t->nnames; i++)
		fprintf(f, "%s%d", i ? "," : "", (int)nmod[i]);
	fputc(']', f);
	tree_destroy(&mods);
	free(nmod);
}

static void write_data(const struct oxc_flame *p, const struct tree *t, FILE *f)
{
	const char *title = p->title ? p->title : DEFAULT_TITLE;
	fputs("{\"v\":2,\n\"title\":", f);
	json_str(f, title, strlen(title));
	fputs(",\n\"facts\":[", f);
	for (uint32_t i = 0; i < p->nfacts; i++) {
		fputs(i ? ",[" : "[", f);
		json_str(f, p->facts[i].label, strlen(p->facts[i].label));
		fputc(',', f);
		json_str(f, p->facts[i].value, strlen(p->facts[i].value));
		fputc(']', f);
	}
	fprintf(f, "],\n\"total\":%llu,\n\"names\":[", (unsigned long long)p->stacks->total);
	for (size_t i = 0; i < t->nnames; i++) {
		if (i)
			fputs(",\n", f);
		json_str(f, t->names[i], t->name_len[i]);
	}
	fputc(']', f);
	write_modules(t, p->funcs, f);
	fputs(",\n\"tree\":\"", f);
	write_tree(t, f);
	fputs("\"}", f);
}

int oxc_flame_write(const struct oxc_flame *p, FILE *f)
{
	struct tree t;
	tree_init(&t);
	for (uint32_t i = 0; i < p->stacks->nrows; i++)
		tree_add(&t, p->stacks->rows[i].name, p->stacks->rows[i].self);
	fwrite(oxc_flame_page_head, 1, oxc_flame_page_head_len, f);
	write_data(p, &t, f);
	fwrite(oxc_flame_page_tail, 1, oxc_flame_page_tail_len, f);
	tree_destroy(&t);
	return fflush(f) != 0 || ferror(f) ? -EIO : 0;
}

/* ---- the facts, from the daemon ---- */

struct status_facts {
	const struct oxc_report *procs; /* whose agents count */
	uint32_t agents;
	uint64_t dropped, unwind_fail;
	double hz_achieved;             /* sum over the agents */
	uint32_t hz_min, hz_max;
	int mode;                       /* -1 none yet, -2 mixed */
	char sources[160];
};

static int proc_listed(const struct oxc_report *procs, int32_t pid)
{
	for (uint32_t i = 0; i < procs->nrows; i++)
		if (procs->rows[i].pid == pid)
			return 1;
	return 0;
}

/* oxc_ctl_fn for STATUS: sum up the agents of the processes in the profile. */
static int on_status(void *arg, const struct oxp_msg *m)
{
	struct status_facts *s = arg;
	if (m->type != OXP_MSG_STATUS)
		return 0;
	for (uint32_t i = 0; i < m->u.status.nagents; i++) {
		const struct oxp_agent_row *a = &m->u.status.agents[i];
		if (!proc_listed(s->procs, a->pid))
			continue;
		s->dropped += a->dropped_agent + a->dropped_daemon;
		s->unwind_fail += a->unwind_fail;
		/* The rate and source of agents that sampled: a wrapper that
		 * exec'd at once would pull the mean down with its zero. */
		if (!a->samples)
			continue;
		s->agents++;
		s->hz_achieved += a->hz_achieved;
		if (s->agents == 1 || a->hz_requested < s->hz_min)
			s->hz_min = a->hz_requested;
		if (a->hz_requested > s->hz_max)
			s->hz_max = a->hz_requested;
		s->mode = s->mode == -1 || s->mode == a->mode ? a->mode : -2;
		/* Distinct sources, comma-separated, as long as they fit. */
		char src[64];
		snprintf(src, sizeof(src), "%.*s", (int)a->source.len, a->source.ptr ? a->source.ptr : "");
		size_t have = strlen(s->sources);
		if (src[0] && !strstr(s->sources, src) && have + strlen(src) + 3 < sizeof(s->sources))
			snprintf(s->sources + have, sizeof(s->sources) - have, "%s%s",
				 have ? ", " : "", src);
	}
	return 0;
}

static void facts_profile(struct oxc_flame *p, const struct oxc_report *r,
			  const struct oxc_report *procs)
{
	char buf[480], span[32], t0[32], t1[32];
	oxc_flame_fact(p, "Samples", "%llu", (unsigned long long)r->total);
	size_t n = 0;
	buf[0] = 0;
	for (uint32_t i = 0; i < procs->nrows && n + 40 < sizeof(buf); i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%.*s (%d)", i ? ", " : "", 64,
				      oxc_report_basename(procs->rows[i].name),
				      (int)procs->rows[i].pid);
	oxc_flame_fact(p, "Processes", "%u%s%s%s", (unsigned)r->nprocs, n ? ": " : "", buf,
		       procs->nrows > 0 && n + 40 >= sizeof(buf) ? ", ..." : "");
	if (r->first_ms && r->last_ms >= r->first_ms) {
		oxc_fmt_duration(span, sizeof(span), r->last_ms - r->first_ms);
		oxc_fmt_time(t0, sizeof(t0), r->first_ms);
		oxc_fmt_time(t1, sizeof(t1), r->last_ms);
		/* The second time without its date when it is the same day. */
		oxc_flame_fact(p, "Time span", "%s (%s - %s)", span, t0,
			       strncmp(t0, t1, 11) == 0 ? t1 + 11 : t1);
	}
	if (oxc_report_cpu_line(r, buf, sizeof(buf)))
		oxc_flame_fact(p, "CPU time", "%s", buf);
}

static void facts_status(struct oxc_flame *p, const struct status_facts *s)
{
	char req[48];
	if (!s->agents)
		goto drops;
	if (s->hz_min == s->hz_max)
		snprintf(req, sizeof(req), "%u Hz", (unsigned)s->hz_min);
	else
		snprintf(req, sizeof(req), "%u-%u Hz", (unsigned)s->hz_min, (unsigned)s->hz_max);
	oxc_flame_fact(p, "Rate", "%s requested, %.0f Hz achieved (mean of %u sampling agent%s), %s", req,
		       s->hz_achieved / s->agents, (unsigned)s->agents, s->agents == 1 ? "" : "s",
		       s->mode < 0 ? "mixed modes" : oxc_mode_name(s->mode));
	if (s->sources[0])
		oxc_flame_fact(p, "Source", "%s", s->sources);
drops:
	oxc_flame_fact(p, "Dropped", "%llu samples; %llu unwind failures",
		       (unsigned long long)s->dropped, (unsigned long long)s->unwind_fail);
}

int oxc_flame_fetch_write(struct oxc_ctl *c, const struct oxp_command *query,
			  const char *title, FILE *f)
{
	struct oxc_report stacks, funcs, procs;
	struct oxp_command q = *query;
	struct status_facts s = { .procs = &procs, .mode = -1 };
	int r;
	q.limit = 0;
	q.sort = OXP_SORT_SELF;
	oxc_report_init(&stacks, q.by = OXP_BY_STACK, q.sort);
	oxc_report_init(&funcs, OXP_BY_FUNCTION, q.sort);
	oxc_report_init(&procs, OXP_BY_PROCESS, q.sort);
	if ((r = oxc_report_fetch(c, &q, &stacks)) < 0)
		goto out;
	q.by = OXP_BY_FUNCTION;
	if ((r = oxc_report_fetch(c, &q, &funcs)) < 0)
		goto out;
	q.by = OXP_BY_PROCESS;
	if ((r = oxc_report_fetch(c, &q, &procs)) < 0)
		goto out;
	/* Status has no selector: it lists every agent, filtered here. */
	struct oxp_command st = q;
	st.cmd = OXP_CMD_STATUS;
	st.sel.npids = 0;
	st.sel.exe = oxp_str_c("");
	st.sel.thread = oxp_str_c("");
	if ((r = oxc_ctl_command(c, &st, on_status, &s)) < 0)
		goto out;
	struct oxc_flame page = { .title = title, .stacks = &stacks, .funcs = &funcs };
	facts_profile(&page, &stacks, &procs);
	facts_status(&page, &s);
	if (c->software[0])
		oxc_flame_fact(&page, "Daemon", "%s", c->software);
	errno = 0;
	if ((r = oxc_flame_write(&page, f)) < 0)
		snprintf(c->err, sizeof(c->err), "cannot write the flame graph: %s",
			 strerror(errno ? errno : EIO));
out:
	oxc_report_destroy(&stacks);
	oxc_report_destroy(&funcs);
	oxc_report_destroy(&procs);
	return r;
}
