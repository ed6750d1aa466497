/*
 * snapparse.c - reading a snapshot file image back into an aggregate,
 * trusting nothing in it.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snapfmt.h"
#include "store.h"
#include "ox/xalloc.h"

/* ---- reading ---- */

/*
 * Loading trusts nothing in the file, checksums included: a file with good
 * CRCs can still hold values the daemon never could have held (a restored
 * bug, a hand-edited or crafted file).  Every id is checked against what
 * was read before it, every value against the protocol's limits (a value
 * the wire could not carry would make every later STATUS or QUERY
 * unencodable for clients), every record count against the bytes left
 * (so a bogus count costs no allocation), and the totals against the
 * entries they sum, without overflow.
 */
struct reader {
	const uint8_t *p, *end;
	char why[160];  /* the first problem; "" while good */
};

static void fail(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct reader *r, const char *fmt, ...)
{
	if (r->why[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

static uint64_t r_le(struct reader *r, int n)
{
	if (r->why[0] || r->end - r->p < n) {
		fail(r, "truncated contents");
		return 0;
	}
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += n;
	return v;
}

static uint32_t r_u32(struct reader *r) { return (uint32_t)r_le(r, 4); }
static uint64_t r_u64(struct reader *r) { return r_le(r, 8); }

/* An id that must be below n. */
static uint32_t r_id(struct reader *r, size_t n, const char *what)
{
	uint32_t v = r_u32(r);
	if (!r->why[0] && v >= n)
		fail(r, "%s id %u out of range (%zu defined)", what, (unsigned)v, n);
	return r->why[0] ? 0 : v;
}

static const uint8_t *r_bytes(struct reader *r, uint64_t n)
{
	if (r->why[0] || (uint64_t)(r->end - r->p) < n) {
		fail(r, "truncated contents");
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

/* A record count; each record takes at least min bytes, so a count the
 * rest of the file cannot hold is refused before anything is allocated. */
static uint64_t r_count(struct reader *r, int width, uint64_t min, const char *what)
{
	uint64_t n = width == 8 ? r_u64(r) : r_u32(r);
	if (!r->why[0] && n > (uint64_t)(r->end - r->p) / min)
		fail(r, "%llu %s cannot fit in the %zu bytes left", (unsigned long long)n, what,
		     (size_t)(r->end - r->p));
	return r->why[0] ? 0 : n;
}

/* Bytes of the smallest record of each kind (see the layout above). */
#define MIN_STR 4
#define MIN_FRAME 16
#define MIN_PROC (4 * 6 + 8 + 64 + 8 * 10)
#define MIN_THREAD 12
#define MIN_STACK 4
#define MIN_ENTRY 16

struct maps {
	uint32_t *str, *frame, *proc, *thread;
	uint32_t *thread_proc; /* file's thread -> file's process */
	uint64_t *proc_samples, *proc_sum; /* what each process says; what its entries add to */
	uint64_t *stack_off;  /* into r's buffer: offsets of each stack's frames */
	uint32_t *stack_n;
	uint32_t *entry;      /* file's entry -> the aggregate's */
	uint64_t *entry_count;
	uint32_t nstr, nframe, nproc, nthread, nstack;
	uint64_t nentry;
};

static void maps_free(struct maps *m)
{
	free(m->str);
	free(m->frame);
	free(m->proc);
	free(m->thread);
	free(m->thread_proc);
	free(m->proc_samples);
	free(m->proc_sum);
	free(m->stack_off);
	free(m->stack_n);
	free(m->entry);
	free(m->entry_count);
}

/* Values a live daemon can hold: what the decoder lets an agent say. */
static void check_proc(struct reader *r, uint32_t i, const struct oxd_proc *p, uint32_t flags)
{
	if (p->pid < 0)
		fail(r, "process %u: pid %d", (unsigned)i, (int)p->pid);
	else if (flags & ~(uint32_t)0xff03)
		fail(r, "process %u: unknown flags 0x%x", (unsigned)i, (unsigned)flags);
	else if (p->mode > OXP_MODE_WALL)
		fail(r, "process %u: mode %u out of range", (unsigned)i, (unsigned)p->mode);
	else if (p->removed && (p->samples || p->dropped_daemon))
		fail(r, "process %u: forgotten by a reset, yet it holds samples", (unsigned)i);
	else if (p->hz_requested > OXP_MAX_HZ)
		fail(r, "process %u: requested rate %u Hz over the limit %u", (unsigned)i,
		     (unsigned)p->hz_requested, (unsigned)OXP_MAX_HZ);
	else if (!isfinite(p->hz_achieved) || p->hz_achieved < 0)
		fail(r, "process %u: achieved rate %g Hz is not a finite non-negative number",
		     (unsigned)i, p->hz_achieved);
}

static void get_proc(struct reader *r, struct maps *m, uint32_t i, struct oxd_proc *p)
{
	memset(p, 0, sizeof(*p));
	uint32_t pid = r_u32(r);
	p->pid = pid > INT32_MAX ? -1 : (int32_t)pid;
	p->uid = r_u32(r);
	p->exe = m->str[r_id(r, m->nstr, "string")];
	p->cmdline = m->str[r_id(r, m->nstr, "string")];
	uint32_t fl = r_u32(r);
	p->removed = fl & 1;
	p->claimed = (fl >> 1) & 1;
	p->mode = (uint8_t)(fl >> 8);
	p->state = OXP_AGENT_EXITED;
	p->hz_requested = r_u32(r);
	uint64_t hz = r_u64(r);
	memcpy(&p->hz_achieved, &hz, 8);
	const uint8_t *src = r_bytes(r, sizeof(p->source));
	if (src && !memchr(src, 0, sizeof(p->source)))
		fail(r, "process %u: source not terminated", (unsigned)i);
	if (src)
		memcpy(p->source, src, sizeof(p->source));
	p->source[sizeof(p->source) - 1] = 0;
	uint64_t *v[] = { &p->samples, &p->dropped_daemon, &p->dropped_agent, &p->unwind_fail,
			  &p->connected_ms, &p->first_ms, &p->last_ms, &p->last_batch_ms,
			  &p->taken, &p->sent };
	for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
		*v[k] = r_u64(r);
	if (!r->why[0])
		check_proc(r, i, p, fl);
}

static void load_strings(struct reader *r, struct oxd_agg *a, struct maps *m)
{
	m->nstr = (uint32_t)r_count(r, 4, MIN_STR, "strings");
	m->str = ox_xcalloc((size_t)m->nstr + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < m->nstr && !r->why[0]; i++) {
		uint32_t len = r_u32(r);
		if (!r->why[0] && len > OXP_MAX_STR)
			fail(r, "string %u: %u bytes, over the limit %u", (unsigned)i, (unsigned)len,
			     (unsigned)OXP_MAX_STR);
		const uint8_t *p = r_bytes(r, len);
		/* The protocol's strings never hold NUL: clients print them. */
		if (p && memchr(p, 0, len))
			fail(r, "string %u holds a NUL byte", (unsigned)i);
		if (!r->why[0])
			m->str[i] = oxd_agg_str(a, (const char *)p, len);
	}
}

/* Strings, frames, processes, threads: the dictionary. */
static void load_dict(struct reader *r, struct oxd_agg *a, struct maps *m)
{
	load_strings(r, a, m);
	m->nframe = (uint32_t)r_count(r, 4, MIN_FRAME, "frames");
	m->frame = ox_xcalloc((size_t)m->nframe + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < m->nframe && !r->why[0]; i++) {
		uint32_t fu = m->str[r_id(r, m->nstr, "string")];
		uint32_t mo = m->str[r_id(r, m->nstr, "string")];
		uint64_t off = r_u64(r);
		if (!r->why[0])
			m->frame[i] = oxd_agg_frame(a, fu, mo, off);
	}
	m->nproc = (uint32_t)r_count(r, 4, MIN_PROC, "processes");
	m->proc = ox_xcalloc((size_t)m->nproc + 1, sizeof(uint32_t));
	m->proc_samples = ox_xcalloc((size_t)m->nproc + 1, sizeof(uint64_t));
	m->proc_sum = ox_xcalloc((size_t)m->nproc + 1, sizeof(uint64_t));
	for (uint32_t i = 0; i < m->nproc && !r->why[0]; i++) {
		struct oxd_proc p;
		get_proc(r, m, i, &p);
		if (r->why[0])
			break;
		m->proc[i] = oxd_agg_restore_proc(a, &p);
		m->proc_samples[i] = p.samples;
	}
	m->nthread = (uint32_t)r_count(r, 4, MIN_THREAD, "threads");
	m->thread = ox_xcalloc((size_t)m->nthread + 1, sizeof(uint32_t));
	m->thread_proc = ox_xcalloc((size_t)m->nthread + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < m->nthread && !r->why[0]; i++) {
		uint32_t pr = r_id(r, m->nproc, "process"), tid = r_u32(r);
		uint32_t nm = m->str[r_id(r, m->nstr, "string")];
		if (!r->why[0] && tid > INT32_MAX)
			fail(r, "thread %u: tid %u out of range", (unsigned)i, (unsigned)tid);
		if (r->why[0])
			break;
		m->thread_proc[i] = pr;
		m->thread[i] = oxd_agg_thread(a, m->proc[pr], tid, nm);
	}
}

/* Stacks (kept as references into the file) and entries. */
static void load_samples(struct reader *r, struct oxd_agg *a, struct maps *m)
{
	m->nstack = (uint32_t)r_count(r, 4, MIN_STACK, "stacks");
	m->stack_off = ox_xcalloc((size_t)m->nstack + 1, sizeof(uint64_t));
	m->stack_n = ox_xcalloc((size_t)m->nstack + 1, sizeof(uint32_t));
	const uint8_t *base = r->p;
	for (uint32_t i = 0; i < m->nstack && !r->why[0]; i++) {
		m->stack_n[i] = r_u32(r);
		if (!r->why[0] && m->stack_n[i] > OXP_MAX_DEPTH)
			fail(r, "stack %u: %u frames, over the limit %u", (unsigned)i,
			     (unsigned)m->stack_n[i], (unsigned)OXP_MAX_DEPTH);
		m->stack_off[i] = (uint64_t)(r->p - base);
		for (uint32_t j = 0; j < m->stack_n[i] && !r->why[0]; j++)
			r_id(r, m->nframe, "frame");
	}
	uint64_t n = r_count(r, 8, MIN_ENTRY, "entries");
	m->nentry = n;
	m->entry = ox_xcalloc(n + 1, sizeof(*m->entry));
	m->entry_count = ox_xcalloc(n + 1, sizeof(*m->entry_count));
	uint32_t f[OXP_MAX_DEPTH];
	for (uint64_t i = 0; i < n && !r->why[0]; i++) {
		uint32_t t = r_id(r, m->nthread, "thread"), s = r_id(r, m->nstack, "stack");
		uint64_t count = r_u64(r);
		if (r->why[0])
			break;
		uint64_t *sum = &m->proc_sum[m->thread_proc[t]];
		if (__builtin_add_overflow(*sum, count, sum)) {
			fail(r, "entry %llu: the counts of process %u overflow",
			     (unsigned long long)i, (unsigned)m->thread_proc[t]);
			break;
		}
		struct reader fr = { base + m->stack_off[s], r->end, "" };
		for (uint32_t j = 0; j < m->stack_n[s]; j++)
			f[j] = m->frame[r_u32(&fr)];
		m->entry[i] = oxd_agg_restore_entry(a, m->thread[t], f, m->stack_n[s], count);
		m->entry_count[i] = count;
	}
}

/*
 * The totals: each process's samples are what its entries add up to, the
 * aggregate's are the processes' sum, and no sum overflows, so every
 * count the daemon derives from them (stacks, functions, queries) fits.
 */
static void check_totals(struct reader *r, const struct maps *m, const struct oxd_agg *a,
			 uint64_t samples, uint64_t dropped)
{
	uint64_t sum = 0, dsum = 0;
	for (uint32_t i = 0; i < m->nproc && !r->why[0]; i++) {
		const struct oxd_proc *p = &a->procs[m->proc[i]];
		if (m->proc_sum[i] != m->proc_samples[i])
			fail(r, "process %u: %llu samples, but its entries hold %llu", (unsigned)i,
			     (unsigned long long)m->proc_samples[i],
			     (unsigned long long)m->proc_sum[i]);
		else if (__builtin_add_overflow(sum, p->samples, &sum) ||
			 __builtin_add_overflow(dsum, p->dropped_daemon, &dsum))
			fail(r, "the processes' counts overflow");
	}
	if (r->why[0])
		return;
	if (sum != samples)
		fail(r, "%llu samples in all, but the processes hold %llu",
		     (unsigned long long)samples, (unsigned long long)sum);
	else if (dropped < dsum)
		fail(r, "%llu refused in all, fewer than the processes' %llu",
		     (unsigned long long)dropped, (unsigned long long)dsum);
}

/* Format 3: each agent instance's highest batch seq in the file. */
static void load_instances(struct reader *r, struct oxd_agg *a, const struct maps *m,
			   uint32_t format)
{
	uint32_t ninst = format >= 3 ? r_u32(r) : 0;
	for (uint32_t i = 0; i < ninst && !r->why[0]; i++) {
		uint32_t pr = m->proc[r_id(r, m->nproc, "process")];
		uint64_t inst = r_u64(r), seq = r_u64(r);
		if (!r->why[0] && !inst)
			fail(r, "agent instance 0 for process %u", (unsigned)pr);
		if (!r->why[0]) {
			a->procs[pr].instance = inst;
			a->procs[pr].seq_received = a->procs[pr].seq_durable = seq;
		}
	}
}

/* Format 4: the processes' CPU time (snapfmt.h). */
static void load_cpu(struct reader *r, struct oxd_agg *a, const struct maps *m,
		     uint32_t format)
{
	uint32_t n = format >= 4 ? (uint32_t)r_count(r, 4, 8 + 6 * 8, "CPU times") : 0;
	for (uint32_t i = 0; i < n && !r->why[0]; i++) {
		uint32_t pr = m->proc[r_id(r, m->nproc, "process")];
		uint32_t covers = r_u32(r);
		uint64_t v[6];
		for (size_t k = 0; k < 6; k++)
			v[k] = r_u64(r);
		if (!r->why[0] && covers > (OXP_CPU_USER | OXP_CPU_SYSTEM))
			fail(r, "process %u: unknown CPU coverage 0x%x", (unsigned)pr,
			     (unsigned)covers);
		if (r->why[0])
			break;
		struct oxd_proc *p = &a->procs[pr];
		p->cpu_covers = (uint8_t)covers;
		p->cpu_user_ms = v[0];
		p->cpu_sys_ms = v[1];
		p->sampled_user_ms = v[2];
		p->sampled_sys_ms = v[3];
		p->base_user_ms = v[4];
		p->base_sys_ms = v[5];
	}
}

/* Format 4: modules' build-ids (UINT32_MAX: none) and load addresses,
 * checked as agents' are (buildid.c). */
static void load_build_ids(struct reader *r, struct oxd_agg *a, const struct maps *m,
			   uint32_t format)
{
	uint32_t n = format >= 4 ? r_u32(r) : 0;
	for (uint32_t i = 0; i < n && !r->why[0]; i++) {
		uint32_t mo = m->str[r_id(r, m->nstr, "string")];
		uint32_t fb = r_u32(r); /* the file's string id */
		uint64_t load = r_u64(r);
		if (!r->why[0] && fb != UINT32_MAX && fb >= m->nstr)
			fail(r, "module %u: build-id string %u out of range", (unsigned)i,
			     (unsigned)fb);
		if (r->why[0])
			break;
		const struct oxd_str *b = fb == UINT32_MAX ? NULL : &a->strs[m->str[fb]];
		oxd__module_set(a, NULL, mo, b ? b->p : "", b ? b->len : 0, load);
	}
}

/* Format 4: each process's parent and when its agent left. */
static void load_lineage(struct reader *r, struct oxd_agg *a, const struct maps *m,
			 uint32_t format)
{
	uint32_t n = format >= 4 ? r_u32(r) : 0;
	for (uint32_t i = 0; i < n && !r->why[0]; i++) {
		uint32_t pr = m->proc[r_id(r, m->nproc, "process")];
		uint32_t ppid = r_u32(r);
		uint64_t exited = r_u64(r);
		if (!r->why[0] && ppid > INT32_MAX)
			fail(r, "process %u: parent pid %u", (unsigned)pr, (unsigned)ppid);
		if (!r->why[0]) {
			a->procs[pr].ppid = (int32_t)ppid;
			a->procs[pr].exited_ms = exited;
		}
	}
}

/* Format 5: the time slots.  Slots sorted and disjoint, cells naming them
 * and entries read before, no entry's cells past its count. */
static void load_hist(struct reader *r, struct oxd_agg *a, struct maps *m, uint32_t format,
		      uint64_t samples)
{
	if (format < 5) {
		a->hist.dropped_samples = samples;
		return;
	}
	uint32_t n = (uint32_t)r_count(r, 4, 8, "slots");
	uint32_t *start = ox_xcalloc((size_t)n + 1, sizeof(*start));
	uint64_t end = 0;
	for (uint32_t i = 0; i < n && !r->why[0]; i++) {
		start[i] = r_u32(r);
		uint32_t w = r_u32(r);
		if (!r->why[0] && (!w || start[i] < end || (uint64_t)start[i] + w > UINT32_MAX))
			fail(r, "slot %u: [%u, +%u) is empty, out of order or overlaps",
			     (unsigned)i, (unsigned)start[i], (unsigned)w);
		if (r->why[0])
			break;
		end = (uint64_t)start[i] + w;
		oxd_agg_restore_slot(a, start[i], w);
	}
	uint64_t nc = r_count(r, 8, 16, "cells");
	for (uint64_t i = 0; i < nc && !r->why[0]; i++) {
		uint32_t s = r_id(r, n, "slot");
		uint64_t e = r_u32(r), count = r_u64(r);
		if (!r->why[0] && e >= m->nentry)
			fail(r, "cell %llu: entry %llu out of range", (unsigned long long)i,
			     (unsigned long long)e);
		else if (!r->why[0] && count > m->entry_count[e])
			fail(r, "cell %llu: %llu samples, more than its entry holds",
			     (unsigned long long)i, (unsigned long long)count);
		if (r->why[0])
			break;
		m->entry_count[e] -= count;
		if (m->entry[e] != OXD_NONE)
			oxd_agg_restore_cell(a, start[s], m->entry[e], count);
	}
	free(start);
	uint64_t merged = r_u64(r), dslots = r_u64(r), dsamples = r_u64(r);
	if (!r->why[0] && dsamples > samples)
		fail(r, "%llu samples dropped from the history, more than the %llu held",
		     (unsigned long long)dsamples, (unsigned long long)samples);
	a->hist.merged = merged;
	a->hist.dropped_slots = dslots;
	a->hist.dropped_samples += dsamples;
}

int oxd_snapshot_parse(struct oxd_agg *a, const uint8_t *buf, size_t len, char *why,
		       size_t whylen)
{
	if (len < HDR || memcmp(buf, MAGIC, 8) != 0) {
		snprintf(why, whylen, "not an oxprofd snapshot");
		return -EBADMSG;
	}
	struct reader r = { buf + HDR, buf + len, "" };
	struct reader h = { buf + 8, buf + HDR, "" };
	uint32_t format = r_u32(&h);
	r_u32(&h);
	uint64_t plen = r_u64(&h);
	uint32_t crc = r_u32(&h), hcrc = r_u32(&h);
	if (hcrc != crc32_update(0, buf, 28))
		fail(&r, "damaged header");
	else if (format < FORMAT_OLDEST || format > FORMAT)
		fail(&r, "unknown format version %u", (unsigned)format);
	else if (plen != len - HDR)
		fail(&r, "truncated");
	else if (crc != crc32_update(0, buf + HDR, plen))
		fail(&r, "checksum mismatch");
	uint64_t samples = r_u64(&r), dropped = r_u64(&r);
	uint64_t written_ms = r_u64(&r);
	struct maps m = { 0 };
	if (!r.why[0])
		load_dict(&r, a, &m);
	if (!r.why[0])
		load_samples(&r, a, &m);
	if (!r.why[0])
		load_instances(&r, a, &m, format);
	if (!r.why[0])
		load_cpu(&r, a, &m, format);
	if (!r.why[0])
		load_build_ids(&r, a, &m, format);
	if (!r.why[0])
		load_lineage(&r, a, &m, format);
	/* Rows that do not say when their agent left (older formats) left by
	 * the time the file was written: --exited-ttl counts from there. */
	for (uint32_t i = 0; !r.why[0] && i < m.nproc; i++)
		if (!a->procs[m.proc[i]].exited_ms)
			a->procs[m.proc[i]].exited_ms = written_ms ? written_ms
								   : (uint64_t)time(NULL) * 1000;
	if (!r.why[0])
		load_hist(&r, a, &m, format, samples);
	if (!r.why[0] && r.p != r.end)
		fail(&r, "%zu bytes after the last entry", (size_t)(r.end - r.p));
	if (!r.why[0])
		check_totals(&r, &m, a, samples, dropped);
	maps_free(&m);
	a->samples = samples;
	a->dropped = dropped;
	snprintf(why, whylen, "%s", r.why);
	return r.why[0] ? -EBADMSG : 0;
}
