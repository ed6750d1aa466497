/*
 * pprof.c - by=frames query results -> profile.proto, gzip-compressed; see
 * pprof.h for the layout.  The schema is proto/pprof/profile.proto (field
 * numbers below are its).
 *
 * Collecting keeps daemon ids: frames and modules in arrays indexed by the
 * id the daemon chose (dense: they are its table indexes), strings interned
 * once into what becomes the string table.  Writing assigns pprof's ids
 * (1-based, dense) and streams field after field into zlib.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demangle.h"
#include "ox/xalloc.h"
#include "pbuf.h"
#include "pprof.h"
#include "utf8.h"

/* A daemon id above this is not a table index but a broken answer. */
#define MAX_ID (1u << 28)
#define UNKNOWN "[unknown]"

/* profile.proto field numbers. */
enum {
	P_SAMPLE_TYPE = 1, P_SAMPLE, P_MAPPING, P_LOCATION, P_FUNCTION, P_STRING_TABLE,
	P_TIME_NANOS = 9, P_DURATION_NANOS, P_PERIOD_TYPE, P_PERIOD,
};
enum { VT_TYPE = 1, VT_UNIT };
enum { S_LOCATION_ID = 1, S_VALUE, S_LABEL };
enum { L_KEY = 1, L_STR, L_NUM };
enum { M_ID = 1, M_START, M_LIMIT, M_OFFSET, M_FILENAME, M_BUILD_ID, M_HAS_FUNCTIONS };
enum { LOC_ID = 1, LOC_MAPPING_ID, LOC_ADDRESS, LOC_LINE };
enum { LINE_FUNCTION_ID = 1 };
enum { F_ID = 1, F_NAME, F_SYSTEM_NAME };

struct strs {
	char **s;
	uint32_t *len;
	size_t n, cap;
	uint32_t *slots;        /* index + 1; 0 empty */
	size_t mask;
};

struct pframe {
	uint8_t defined;
	uint32_t func;          /* string: the name as reported */
	uint32_t module;        /* daemon module id */
	uint64_t offset;
	uint32_t loc;           /* pprof Location id, when writing */
};

struct pmod {
	uint8_t defined, used, unresolved;
	uint32_t path, build_id; /* strings */
	uint64_t load;          /* link-time address of file offset 0 */
	/* Per write: */
	uint64_t min_off, max_off, start;
	uint64_t adj;           /* load, or 0 when an offset lies below it */
	uint32_t mapping;       /* pprof Mapping id */
};

struct prow {
	int32_t pid, tid;
	uint32_t thread, exe;   /* strings */
	uint64_t count;
	size_t off;             /* first frame id in ids */
	uint32_t n;
};

struct oxc_pprof {
	struct strs strs;
	struct pframe *frames;
	size_t cap_frames;
	struct pmod *mods;
	size_t cap_mods;
	struct prow *rows;
	size_t nrows, cap_rows;
	uint32_t *ids;
	size_t nids, cap_ids;
	uint64_t total, first_ms, last_ms;
};

/* ---- strings ---- */

static uint32_t hash(const char *p, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static size_t str_slot(const struct strs *t, const char *p, size_t n)
{
	size_t i = hash(p, n) & t->mask;
	while (t->slots[i]) {
		uint32_t k = t->slots[i] - 1;
		if (t->len[k] == n && memcmp(t->s[k], p, n) == 0)
			break;
		i = (i + 1) & t->mask;
	}
	return i;
}

static void str_rehash(struct strs *t)
{
	size_t slots = t->slots ? (t->mask + 1) * 2 : 1024;
	free(t->slots);
	t->slots = ox_xcalloc(slots, sizeof(*t->slots));
	t->mask = slots - 1;
	for (size_t k = 0; k < t->n; k++)
		t->slots[str_slot(t, t->s[k], t->len[k])] = (uint32_t)k + 1;
}

/* The index of p[0..n) (valid UTF-8 already), adding it if new. */
static uint32_t str_add(struct strs *t, const char *p, size_t n)
{
	if (!t->slots || (t->n + 1) * 2 > t->mask)
		str_rehash(t);
	size_t i = str_slot(t, p, n);
	if (t->slots[i])
		return t->slots[i] - 1;
	ox_xgrow(&t->s, &t->cap, t->n + 1, sizeof(*t->s));
	t->len = ox_xrealloc(t->len, t->cap * sizeof(*t->len));
	t->s[t->n] = ox_xstrndup(p, n);
	t->len[t->n] = (uint32_t)n;
	t->slots[i] = (uint32_t)t->n + 1;
	return (uint32_t)t->n++;
}

/* Intern a name from the daemon: protobuf strings must be UTF-8 (Go's
 * proto libraries refuse the file otherwise), names are whatever bytes a
 * process had, so invalid bytes become U+FFFD. */
static uint32_t str_intern(struct strs *t, const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && (unsigned char)p[i] < 0x80)
		i++;
	if (i == n)
		return str_add(t, p, n);
	char *q = ox_xmalloc(3 * n + 1);
	size_t m = 0;
	for (i = 0; i < n;) {
		size_t k = oxc_u8seq((const unsigned char *)p + i, n - i);
		if (k) {
			memcpy(q + m, p + i, k);
			m += k;
			i += k;
		} else {
			memcpy(q + m, "\xef\xbf\xbd", 3);
			m += 3;
			i++;
		}
	}
	uint32_t id = str_add(t, q, m);
	free(q);
	return id;
}

static void strs_destroy(struct strs *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->len);
	free(t->slots);
}

/* ---- collecting ---- */

struct oxc_pprof *oxc_pprof_new(void)
{
	struct oxc_pprof *p = ox_xcalloc(1, sizeof(*p));
	str_add(&p->strs, "", 0); /* string_table[0] must be "" */
	return p;
}

void oxc_pprof_free(struct oxc_pprof *p)
{
	if (!p)
		return;
	strs_destroy(&p->strs);
	free(p->frames);
	free(p->mods);
	free(p->rows);
	free(p->ids);
	free(p);
}

uint64_t oxc_pprof_rows(const struct oxc_pprof *p)
{
	return p->nrows;
}

/* Grow a zeroed array indexed by id to hold id. */
static void grow_zero(void *pp, size_t *cap, size_t id, size_t sz)
{
	if (id < *cap)
		return;
	size_t old = *cap, c = old ? old : 256;
	while (c <= id)
		c *= 2;
	*(void **)pp = ox_xrealloc(*(void **)pp, c * sz);
	memset((char *)*(void **)pp + old * sz, 0, (c - old) * sz);
	*cap = c;
}

static int add_defs(struct oxc_pprof *p, const struct oxp_query_rows *q)
{
	for (uint32_t i = 0; i < q->nmodules; i++) {
		const struct oxp_qmodule *d = &q->modules[i];
		if (d->id >= MAX_ID)
			return -EPROTO;
		grow_zero(&p->mods, &p->cap_mods, d->id, sizeof(*p->mods));
		struct pmod *m = &p->mods[d->id];
		m->defined = 1;
		m->path = str_intern(&p->strs, d->path.ptr, d->path.len);
		m->build_id = str_intern(&p->strs, d->build_id.ptr, d->build_id.len);
		m->load = d->load;
	}
	for (uint32_t i = 0; i < q->nframes; i++) {
		const struct oxp_qframe *d = &q->frames[i];
		if (d->id >= MAX_ID || d->module >= p->cap_mods || !p->mods[d->module].defined)
			return -EPROTO;
		grow_zero(&p->frames, &p->cap_frames, d->id, sizeof(*p->frames));
		struct pframe *f = &p->frames[d->id];
		f->defined = 1;
		f->func = str_intern(&p->strs, d->func.ptr, d->func.len);
		f->module = d->module;
		f->offset = d->offset;
	}
	return 0;
}

static int add_rows(struct oxc_pprof *p, const struct oxp_query_rows *q)
{
	for (uint32_t i = 0; i < q->nrows; i++) {
		const struct oxp_row *w = &q->rows[i];
		for (uint32_t j = 0; j < w->nframes; j++)
			if (w->frames[j] >= p->cap_frames || !p->frames[w->frames[j]].defined)
				return -EPROTO;
		ox_xgrow(&p->rows, &p->cap_rows, p->nrows + 1, sizeof(*p->rows));
		ox_xgrow(&p->ids, &p->cap_ids, p->nids + w->nframes + 1, sizeof(*p->ids));
		if (w->nframes)
			memcpy(p->ids + p->nids, w->frames, w->nframes * sizeof(*p->ids));
		p->rows[p->nrows++] = (struct prow){
			w->pid, w->tid, str_intern(&p->strs, w->name.ptr, w->name.len),
			str_intern(&p->strs, w->module.ptr, w->module.len), w->self, p->nids,
			w->nframes };
		p->nids += w->nframes;
	}
	return 0;
}

int oxc_pprof_add(struct oxc_pprof *p, const struct oxp_msg *m)
{
	if (m->type == OXP_MSG_QUERY_HEAD) {
		p->total = m->u.query_head.total;
		p->first_ms = m->u.query_head.first_ms;
		p->last_ms = m->u.query_head.last_ms;
		return 0;
	}
	if (m->type != OXP_MSG_QUERY_ROWS)
		return 0;
	int r = add_defs(p, &m->u.query_rows);
	return r < 0 ? r : add_rows(p, &m->u.query_rows);
}

struct fetch {
	struct oxc_pprof *p;
	struct oxc_ctl *c;
};

static int on_msg(void *arg, const struct oxp_msg *m)
{
	struct fetch *f = arg;
	int r = oxc_pprof_add(f->p, m);
	if (r < 0)
		snprintf(f->c->err, sizeof(f->c->err),
			 "the daemon's answer names a frame or module it never defined");
	return r;
}

int oxc_pprof_fetch(struct oxc_pprof *p, struct oxc_ctl *c, const struct oxp_command *cmd)
{
	struct oxp_command q = *cmd;
	q.by = OXP_BY_FRAMES;
	q.sort = OXP_SORT_SELF;
	struct fetch f = { p, c };
	return oxc_ctl_command(c, &q, on_msg, &f);
}

/* ---- writing ---- */

struct writer {
	struct oxc_pprof *p;
	const struct oxc_pprof_opts *o;
	struct oxc_gz gz;
	struct oxc_pb top, msg, sub; /* a top-level field, its message, a part */
	uint32_t *fn_of;        /* string (raw name) -> Function id; 0 none */
	uint32_t *fn_name;      /* Function id - 1 -> (name, system_name) pairs */
	size_t nfns;
	struct oxc_pprof_info info;
	uint32_t k_pid, k_tid, k_thread, k_exe;
};

/* Emit the top-level field msg as field number field. */
static int emit(struct writer *w, uint32_t field)
{
	oxc_pb_reset(&w->top);
	oxc_pb_msg(&w->top, field, &w->msg);
	w->info.raw_bytes += w->top.len;
	return oxc_gz_write(&w->gz, w->top.p, w->top.len);
}

static int emit_value_type(struct writer *w, uint32_t field, const char *type, const char *unit)
{
	oxc_pb_reset(&w->msg);
	oxc_pb_uint(&w->msg, VT_TYPE, str_add(&w->p->strs, type, strlen(type)));
	oxc_pb_uint(&w->msg, VT_UNIT, str_add(&w->p->strs, unit, strlen(unit)));
	return emit(w, field);
}

static int is_unresolved(const struct oxc_pprof *p, const struct pframe *f)
{
	const char *s = p->strs.s[f->func];
	return !*s || !strcmp(s, UNKNOWN);
}

/* Mappings: one per module a frame uses, side by side from 64 KiB up, each
 * as long as its highest offset needs.  A frame's address is the mapping's
 * start plus its offset less the module's load address (see pprof.h). */
static void plan_mappings(struct writer *w)
{
	struct oxc_pprof *p = w->p;
	for (size_t i = 0; i < p->cap_frames; i++) {
		const struct pframe *f = &p->frames[i];
		if (!f->defined)
			continue;
		struct pmod *m = &p->mods[f->module];
		if (!m->used || f->offset < m->min_off)
			m->min_off = f->offset;
		m->used = 1;
		if (f->offset > m->max_off)
			m->max_off = f->offset;
		m->unresolved |= (uint8_t)is_unresolved(p, f);
	}
	for (size_t i = 0; i < p->cap_mods; i++) {
		struct pmod *m = &p->mods[i];
		/* An offset below the load address is no frame of that file
		 * layout: keep offsets as they are rather than wrap. */
		m->adj = m->used && m->min_off >= m->load ? m->load : 0;
		m->max_off -= m->adj;
	}
	uint64_t next = 0x10000;
	uint32_t id = 0;
	for (size_t i = 0; i < p->cap_mods; i++) {
		struct pmod *m = &p->mods[i];
		if (!m->used)
			continue;
		m->mapping = ++id;
		m->start = next;
		/* Aligned like a loader would, and never wrapping. */
		uint64_t end = m->start + m->max_off + 1;
		next = end > UINT64_MAX - 0x10000 ? end : (end + 0xffff) & ~(uint64_t)0xffff;
	}
	w->info.mappings = id;
}

/* Functions: one per distinct reported name; the name people read is the
 * demangled one unless no_demangle. */
static void plan_functions(struct writer *w)
{
	struct oxc_pprof *p = w->p;
	size_t nstrs = p->strs.n;
	w->fn_of = ox_xcalloc(nstrs + 1, sizeof(*w->fn_of));
	w->fn_name = ox_xmalloc((nstrs + 1) * 2 * sizeof(*w->fn_name));
	uint32_t loc = 0;
	for (size_t i = 0; i < p->cap_frames; i++) {
		struct pframe *f = &p->frames[i];
		if (!f->defined)
			continue;
		f->loc = ++loc;
		if (is_unresolved(p, f) || w->fn_of[f->func])
			continue;
		char *d = w->o->no_demangle ? NULL : oxc_demangle(p->strs.s[f->func]);
		uint32_t name = d ? str_intern(&p->strs, d, strlen(d)) : f->func;
		free(d);
		w->fn_name[2 * w->nfns] = name;
		w->fn_name[2 * w->nfns + 1] = f->func;
		w->fn_of[f->func] = (uint32_t)++w->nfns;
	}
	w->info.locations = loc;
	w->info.functions = w->nfns;
}

static void label(struct writer *w, uint32_t key, uint32_t str, int64_t num, int is_num)
{
	oxc_pb_reset(&w->sub);
	oxc_pb_uint(&w->sub, L_KEY, key);
	if (is_num)
		oxc_pb_int(&w->sub, L_NUM, num);
	else
		oxc_pb_uint(&w->sub, L_STR, str);
	oxc_pb_msg(&w->msg, S_LABEL, &w->sub);
}

static int emit_samples(struct writer *w, uint64_t period)
{
	struct oxc_pprof *p = w->p;
	uint64_t locs[OXP_MAX_DEPTH];
	for (size_t i = 0; i < p->nrows; i++) {
		const struct prow *r = &p->rows[i];
		uint32_t n = r->n < OXP_MAX_DEPTH ? r->n : OXP_MAX_DEPTH;
		for (uint32_t j = 0; j < n; j++) /* leaf first, as pprof wants */
			locs[j] = p->frames[p->ids[r->off + j]].loc;
		uint64_t v[2] = { r->count, r->count * period };
		oxc_pb_reset(&w->msg);
		oxc_pb_packed(&w->msg, S_LOCATION_ID, locs, n);
		oxc_pb_packed(&w->msg, S_VALUE, v, 2);
		label(w, w->k_pid, 0, r->pid, 1);
		label(w, w->k_tid, 0, r->tid, 1);
		label(w, w->k_thread, r->thread, 0, 0);
		label(w, w->k_exe, r->exe, 0, 0);
		int e = emit(w, P_SAMPLE);
		if (e < 0)
			return e;
	}
	w->info.samples = p->nrows;
	return 0;
}

static int emit_mappings(struct writer *w)
{
	struct oxc_pprof *p = w->p;
	for (size_t i = 0; i < p->cap_mods; i++) {
		const struct pmod *m = &p->mods[i];
		if (!m->used)
			continue;
		oxc_pb_reset(&w->msg);
		oxc_pb_uint(&w->msg, M_ID, m->mapping);
		oxc_pb_uint(&w->msg, M_START, m->start);
		oxc_pb_uint(&w->msg, M_LIMIT, m->start + m->max_off + 1);
		oxc_pb_uint(&w->msg, M_FILENAME, m->path);
		if (m->build_id)
			oxc_pb_uint(&w->msg, M_BUILD_ID, m->build_id);
		/* False where frames are unresolved: a symboliser may try. */
		oxc_pb_uint(&w->msg, M_HAS_FUNCTIONS, !m->unresolved);
		int e = emit(w, P_MAPPING);
		if (e < 0)
			return e;
	}
	return 0;
}

static int emit_locations(struct writer *w)
{
	struct oxc_pprof *p = w->p;
	for (size_t i = 0; i < p->cap_frames; i++) {
		const struct pframe *f = &p->frames[i];
		if (!f->defined)
			continue;
		const struct pmod *m = &p->mods[f->module];
		oxc_pb_reset(&w->msg);
		oxc_pb_uint(&w->msg, LOC_ID, f->loc);
		oxc_pb_uint(&w->msg, LOC_MAPPING_ID, m->mapping);
		oxc_pb_uint(&w->msg, LOC_ADDRESS, m->start + f->offset - m->adj);
		if (!is_unresolved(p, f)) {
			oxc_pb_reset(&w->sub);
			oxc_pb_uint(&w->sub, LINE_FUNCTION_ID, w->fn_of[f->func]);
			oxc_pb_msg(&w->msg, LOC_LINE, &w->sub);
		}
		int e = emit(w, P_LOCATION);
		if (e < 0)
			return e;
	}
	return 0;
}

static int emit_functions(struct writer *w)
{
	for (size_t i = 0; i < w->nfns; i++) {
		oxc_pb_reset(&w->msg);
		oxc_pb_uint(&w->msg, F_ID, i + 1);
		oxc_pb_uint(&w->msg, F_NAME, w->fn_name[2 * i]);
		oxc_pb_uint(&w->msg, F_SYSTEM_NAME, w->fn_name[2 * i + 1]);
		int e = emit(w, P_FUNCTION);
		if (e < 0)
			return e;
	}
	return 0;
}

static int emit_strings(struct writer *w)
{
	const struct strs *t = &w->p->strs;
	for (size_t i = 0; i < t->n; i++) {
		oxc_pb_reset(&w->top);
		oxc_pb_bytes(&w->top, P_STRING_TABLE, t->s[i], t->len[i]);
		w->info.raw_bytes += w->top.len;
		int e = oxc_gz_write(&w->gz, w->top.p, w->top.len);
		if (e < 0)
			return e;
	}
	return 0;
}

static int emit_times(struct writer *w, const char *kind, uint64_t period)
{
	const struct oxc_pprof *p = w->p;
	oxc_pb_reset(&w->top);
	if (p->first_ms) {
		oxc_pb_int(&w->top, P_TIME_NANOS, (int64_t)(p->first_ms * 1000000));
		uint64_t span = p->last_ms > p->first_ms ? p->last_ms - p->first_ms : 0;
		oxc_pb_int(&w->top, P_DURATION_NANOS, (int64_t)(span * 1000000));
	}
	oxc_pb_int(&w->top, P_PERIOD, (int64_t)period);
	w->info.raw_bytes += w->top.len;
	int e = oxc_gz_write(&w->gz, w->top.p, w->top.len);
	return e < 0 ? e : emit_value_type(w, P_PERIOD_TYPE, kind, "nanoseconds");
}

static int write_all(struct writer *w)
{
	const char *kind = w->o->mode == OXP_MODE_WALL ? "wall" : "cpu";
	uint64_t hz = w->o->hz ? w->o->hz : 100, period = 1000000000u / hz;
	struct strs *t = &w->p->strs;
	w->k_pid = str_add(t, "pid", 3);
	w->k_tid = str_add(t, "tid", 3);
	w->k_thread = str_add(t, "thread", 6);
	w->k_exe = str_add(t, "exe", 3);
	plan_mappings(w);
	plan_functions(w);
	int e;
	if ((e = emit_value_type(w, P_SAMPLE_TYPE, "samples", "count")) < 0 ||
	    (e = emit_value_type(w, P_SAMPLE_TYPE, kind, "nanoseconds")) < 0 ||
	    (e = emit_samples(w, period)) < 0 || (e = emit_mappings(w)) < 0 ||
	    (e = emit_locations(w)) < 0 || (e = emit_functions(w)) < 0 ||
	    (e = emit_times(w, kind, period)) < 0)
		return e;
	/* Last: every string is interned by now. */
	return emit_strings(w);
}

int oxc_pprof_write(struct oxc_pprof *p, const struct oxc_pprof_opts *o, FILE *f,
		    struct oxc_pprof_info *info)
{
	struct writer *w = ox_xcalloc(1, sizeof(*w));
	w->p = p;
	w->o = o;
	int r = oxc_gz_init(&w->gz, f, o->level ? o->level : 1);
	if (r < 0) {
		free(w);
		return r;
	}
	oxc_pb_init(&w->top);
	oxc_pb_init(&w->msg);
	oxc_pb_init(&w->sub);
	r = write_all(w);
	int e = oxc_gz_finish(&w->gz);
	if (r == 0)
		r = e;
	if (r == 0 && fflush(f) != 0)
		r = -errno;
	w->info.bytes = w->gz.out;
	if (info)
		*info = w->info;
	/* Mapping plans are per write. */
	for (size_t i = 0; i < p->cap_mods; i++)
		p->mods[i].used = p->mods[i].unresolved = 0, p->mods[i].max_off = 0;
	oxc_pb_destroy(&w->top);
	oxc_pb_destroy(&w->msg);
	oxc_pb_destroy(&w->sub);
	free(w->fn_of);
	free(w->fn_name);
	free(w);
	return r;
}

int oxc_pprof_save(struct oxc_ctl *c, const struct oxp_command *cmd,
		   const struct oxc_pprof_opts *o, FILE *f, const char *name,
		   struct oxc_pprof_info *info)
{
	struct oxc_pprof *p = oxc_pprof_new();
	int r = oxc_pprof_fetch(p, c, cmd);
	if (r == 0 && (r = oxc_pprof_write(p, o, f, info)) < 0)
		snprintf(c->err, sizeof(c->err), "cannot write %s: %s", name,
			 r == -EPROTO ? "inconsistent profile" : strerror(-r));
	oxc_pprof_free(p);
	return r;
}
