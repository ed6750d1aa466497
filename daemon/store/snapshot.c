/*
 * snapshot.c - the aggregate on disk.
 *
 * Layout, little-endian:
 *   header (32 bytes): magic "OXPDSNAP", u32 format version, u32 reserved,
 *     u64 payload length, u32 CRC-32 of the payload, u32 CRC-32 of the
 *     first 28 header bytes;
 *   payload: u64 samples, u64 dropped, u64 written_ms;
 *     u32 n, strings [u32 len, bytes];
 *     u32 n, frames [u32 func, u32 module, u64 offset];
 *     u32 n, processes [see put_proc];
 *     u32 n, threads [u32 proc, u32 tid, u32 name];
 *     u32 n, stacks [u32 nframes, u32 frame...];
 *     u64 n, entries [u32 thread, u32 stack, u64 count];
 *     (format 3) u32 n, agent instances [u32 proc, u64 instance, u64 seq]:
 *     the highest batch seq of that agent instance the file holds, which
 *     the agent learns when it reconnects (PROTOCOL.md, DURABLE).
 * Loading checks every length and id against what was read before it and
 * every value against what a live daemon can hold (see "reading"), so a
 * damaged or crafted file is refused as a whole, never half-loaded, and
 * kept aside as NAME.bad.
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

#include <zlib.h>

#include "log.h"
#include "xmalloc.h"

#define MAGIC "OXPDSNAP"
#define FORMAT 3
#define FORMAT_OLDEST 2 /* no agent instances */
#define HDR OXD_SNAPSHOT_HDR
#define WBUF (1u << 20)
#define NAME "oxprofd.snap"

/* CRC-32 (IEEE) from zlib, chained across writes like zlib's crc32. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	return (uint32_t)crc32_z(crc, p, n);
}

/* ---- writing ---- */

struct writer {
	int fd;
	int err;
	uint8_t *buf;
	size_t len;
	uint64_t total;
	uint32_t crc;
};

static void w_flush(struct writer *w)
{
	size_t off = 0;
	while (!w->err && off < w->len) {
		ssize_t n = write(w->fd, w->buf + off, w->len - off);
		if (n < 0 && errno != EINTR)
			w->err = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	w->len = 0;
}

static void w_bytes(struct writer *w, const void *p, size_t n)
{
	const uint8_t *b = p;
	w->crc = crc32_update(w->crc, b, n);
	w->total += n;
	while (n) {
		if (w->len == WBUF)
			w_flush(w);
		size_t k = WBUF - w->len < n ? WBUF - w->len : n;
		memcpy(w->buf + w->len, b, k);
		w->len += k;
		b += k;
		n -= k;
	}
}

static void le(uint8_t *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static void w_u32(struct writer *w, uint64_t v)
{
	uint8_t b[4];
	le(b, v, 4);
	w_bytes(w, b, 4);
}

static void w_u64(struct writer *w, uint64_t v)
{
	uint8_t b[8];
	le(b, v, 8);
	w_bytes(w, b, 8);
}

static void put_proc(struct writer *w, const struct oxd_proc *p)
{
	uint64_t hz;
	memcpy(&hz, &p->hz_achieved, 8);
	w_u32(w, (uint32_t)p->pid);
	w_u32(w, p->uid);
	w_u32(w, p->exe);
	w_u32(w, p->cmdline);
	w_u32(w, p->removed | (uint32_t)p->claimed << 1 | (uint32_t)p->mode << 8);
	w_u32(w, p->hz_requested);
	w_u64(w, hz);
	w_bytes(w, p->source, sizeof(p->source));
	const uint64_t v[] = { p->samples, p->dropped_daemon, p->dropped_agent, p->unwind_fail,
			       p->connected_ms, p->first_ms, p->last_ms, p->last_batch_ms,
			       p->taken, p->sent };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		w_u64(w, v[i]);
}

static void put_payload(struct writer *w, const struct oxd_agg *a)
{
	w_u64(w, a->samples);
	w_u64(w, a->dropped);
	w_u64(w, (uint64_t)time(NULL) * 1000);
	w_u32(w, a->nstrs);
	for (size_t i = 0; i < a->nstrs; i++) {
		w_u32(w, a->strs[i].len);
		w_bytes(w, a->strs[i].p, a->strs[i].len);
	}
	w_u32(w, a->nframes);
	for (size_t i = 0; i < a->nframes; i++) {
		w_u32(w, a->frames[i].func);
		w_u32(w, a->frames[i].module);
		w_u64(w, a->frames[i].offset);
	}
	w_u32(w, a->nprocs);
	for (size_t i = 0; i < a->nprocs; i++)
		put_proc(w, &a->procs[i]);
	w_u32(w, a->nthreads);
	for (size_t i = 0; i < a->nthreads; i++) {
		w_u32(w, a->threads[i].proc);
		w_u32(w, a->threads[i].tid);
		w_u32(w, a->threads[i].name);
	}
	w_u32(w, a->nstacks);
	for (size_t i = 0; i < a->nstacks; i++) {
		w_u32(w, a->stacks[i].n);
		const uint32_t *f = oxd_agg_stack_frames(a, (uint32_t)i);
		for (uint32_t j = 0; j < a->stacks[i].n; j++)
			w_u32(w, f[j]);
	}
	w_u64(w, a->nentries);
	for (size_t i = 0; i < a->nentries; i++) {
		w_u32(w, a->entries[i].thread);
		w_u32(w, a->entries[i].stack);
		w_u64(w, a->entries[i].count);
	}
	uint32_t ninst = 0;
	for (size_t i = 0; i < a->nprocs; i++)
		ninst += a->procs[i].instance && a->procs[i].seq_received;
	w_u32(w, ninst);
	for (size_t i = 0; i < a->nprocs; i++)
		if (a->procs[i].instance && a->procs[i].seq_received) {
			w_u32(w, (uint32_t)i);
			w_u64(w, a->procs[i].instance);
			w_u64(w, a->procs[i].seq_received);
		}
}

static void make_header(uint8_t *h, uint64_t len, uint32_t crc)
{
	memset(h, 0, HDR);
	memcpy(h, MAGIC, 8);
	le(h + 8, FORMAT, 4);
	le(h + 16, len, 8);
	le(h + 24, crc, 4);
	le(h + 28, crc32_update(0, h, 28), 4);
}

void oxd_snapshot_header(uint8_t *hdr, const uint8_t *payload, size_t len)
{
	make_header(hdr, len, crc32_update(0, payload, len));
}

static int write_header(int fd, uint64_t len, uint32_t crc)
{
	uint8_t h[HDR];
	make_header(h, len, crc);
	return pwrite(fd, h, HDR, 0) == HDR ? 0 : -EIO;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int oxd_snapshot_write(const struct oxd_agg *a, const char *dir, uint64_t *bytes)
{
	char tmp[1200], cur[1200], prev[1200];
	snprintf(tmp, sizeof(tmp), "%s/" NAME ".tmp.%d", dir, (int)getpid());
	snprintf(cur, sizeof(cur), "%s/" NAME, dir);
	snprintf(prev, sizeof(prev), "%s/" NAME ".prev", dir);
	struct writer w = { .fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) };
	if (w.fd < 0)
		return -errno;
	w.buf = oxd_xmalloc(WBUF);
	uint8_t zero[HDR] = { 0 };
	if (write(w.fd, zero, HDR) != HDR)
		w.err = -EIO;
	put_payload(&w, a);
	w_flush(&w);
	free(w.buf);
	int r = w.err;
	if (r == 0)
		r = write_header(w.fd, w.total, w.crc);
	if (r == 0 && fsync(w.fd) < 0)
		r = -errno;
	if (close(w.fd) < 0 && r == 0)
		r = -errno;
	/* The good file being replaced stays as .prev: if the new one is ever
	 * found damaged, the load falls back to it. */
	if (r == 0 && rename(cur, prev) < 0 && errno != ENOENT)
		r = -errno;
	if (r == 0 && rename(tmp, cur) < 0)
		r = -errno;
	if (r == 0)
		r = fsync_dir(dir);
	if (r < 0)
		unlink(tmp);
	*bytes = w.total + HDR;
	return r;
}

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
	uint32_t nstr, nframe, nproc, nthread, nstack;
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
	m->str = oxd_xcalloc((size_t)m->nstr + 1, sizeof(uint32_t));
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
	m->frame = oxd_xcalloc((size_t)m->nframe + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < m->nframe && !r->why[0]; i++) {
		uint32_t fu = m->str[r_id(r, m->nstr, "string")];
		uint32_t mo = m->str[r_id(r, m->nstr, "string")];
		uint64_t off = r_u64(r);
		if (!r->why[0])
			m->frame[i] = oxd_agg_frame(a, fu, mo, off);
	}
	m->nproc = (uint32_t)r_count(r, 4, MIN_PROC, "processes");
	m->proc = oxd_xcalloc((size_t)m->nproc + 1, sizeof(uint32_t));
	m->proc_samples = oxd_xcalloc((size_t)m->nproc + 1, sizeof(uint64_t));
	m->proc_sum = oxd_xcalloc((size_t)m->nproc + 1, sizeof(uint64_t));
	for (uint32_t i = 0; i < m->nproc && !r->why[0]; i++) {
		struct oxd_proc p;
		get_proc(r, m, i, &p);
		if (r->why[0])
			break;
		m->proc[i] = oxd_agg_restore_proc(a, &p);
		m->proc_samples[i] = p.samples;
	}
	m->nthread = (uint32_t)r_count(r, 4, MIN_THREAD, "threads");
	m->thread = oxd_xcalloc((size_t)m->nthread + 1, sizeof(uint32_t));
	m->thread_proc = oxd_xcalloc((size_t)m->nthread + 1, sizeof(uint32_t));
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
	m->stack_off = oxd_xcalloc((size_t)m->nstack + 1, sizeof(uint64_t));
	m->stack_n = oxd_xcalloc((size_t)m->nstack + 1, sizeof(uint32_t));
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
		oxd_agg_restore_entry(a, m->thread[t], f, m->stack_n[s], count);
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
	r_u64(&r);
	struct maps m = { 0 };
	if (!r.why[0])
		load_dict(&r, a, &m);
	if (!r.why[0])
		load_samples(&r, a, &m);
	if (!r.why[0])
		load_instances(&r, a, &m, format);
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

/* A file the loader refused is kept for a person to look at, under a
 * name no later write or load touches. */
static void set_aside(const char *path)
{
	char bad[1300];
	snprintf(bad, sizeof(bad), "%s.bad", path);
	if (rename(path, bad) == 0)
		oxd_err("snapshot %s kept as %s; starting without it", path, bad);
	else
		oxd_err("snapshot %s: cannot rename it to %s: %s", path, bad, strerror(errno));
}

/* 1 loaded, 0 not. */
static int load_file(struct oxd_agg *a, const char *path)
{
	/* Not a link, and never blocked by a FIFO put in its place. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			oxd_warn("snapshot %s: %s; skipped", path, strerror(errno));
		return 0;
	}
	struct stat st;
	uint8_t *buf = NULL;
	char why[200] = "";
	int refused = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, sizeof(why), "not a regular file");
	} else {
		buf = oxd_xmalloc((size_t)st.st_size + 1);
		size_t got = 0;
		while (got < (size_t)st.st_size) {
			ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (got != (size_t)st.st_size)
			snprintf(why, sizeof(why), "read error");
		struct oxd_agg tmp;
		oxd_agg_init(&tmp, a->mem_budget, a->proc_budget);
		if (!why[0])
			refused = oxd_snapshot_parse(&tmp, buf, got, why, sizeof(why)) < 0;
		if (!why[0]) {
			oxd_agg_destroy(a);
			*a = tmp;
		} else {
			oxd_agg_destroy(&tmp);
		}
	}
	close(fd);
	free(buf);
	if (why[0])
		oxd_err("snapshot %s is unusable (%s); skipped", path, why);
	if (refused)
		set_aside(path);
	return !why[0];
}

/* Temp files of writes that a crash interrupted. */
static void remove_temps(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[1400];
	while ((e = readdir(d)))
		if (strncmp(e->d_name, NAME ".tmp.", sizeof(NAME ".tmp.") - 1) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (unlink(path) == 0)
				oxd_notice("removed %s, left by an interrupted snapshot write", path);
		}
	closedir(d);
}

int oxd_snapshot_load(struct oxd_agg *a, const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		oxd_warn("state dir %s: %s", dir, strerror(errno));
	remove_temps(dir);
	char cur[1200], prev[1200];
	snprintf(cur, sizeof(cur), "%s/" NAME, dir);
	snprintf(prev, sizeof(prev), "%s/" NAME ".prev", dir);
	if (load_file(a, cur) || load_file(a, prev)) {
		oxd_info("snapshot loaded: %llu samples, %zu processes, %zu stacks",
			 (unsigned long long)a->samples, a->nprocs, a->nstacks);
		return 1;
	}
	return 0;
}
