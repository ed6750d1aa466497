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
 * Loading checks every length and id against what was read before it, so
 * a damaged file is refused as a whole, never half-loaded.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#define HDR 32
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

static int write_header(int fd, uint64_t len, uint32_t crc)
{
	uint8_t h[HDR] = { 0 };
	memcpy(h, MAGIC, 8);
	le(h + 8, FORMAT, 4);
	le(h + 16, len, 8);
	le(h + 24, crc, 4);
	le(h + 28, crc32_update(0, h, 28), 4);
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

struct reader {
	const uint8_t *p, *end;
	int bad;
};

static uint64_t r_le(struct reader *r, int n)
{
	if (r->bad || r->end - r->p < n) {
		r->bad = 1;
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

/* An id that must be below n; marks the reader bad otherwise. */
static uint32_t r_id(struct reader *r, size_t n)
{
	uint32_t v = r_u32(r);
	if (v >= n)
		r->bad = 1;
	return r->bad ? 0 : v;
}

static const uint8_t *r_bytes(struct reader *r, uint64_t n)
{
	if (r->bad || (uint64_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

struct maps {
	uint32_t *str, *frame, *proc, *thread;
	uint64_t *stack_off;  /* into r's buffer: offsets of each stack's frames */
	uint32_t *stack_n;
	uint32_t nstr, nframe, nproc, nthread, nstack;
};

static void get_proc(struct reader *r, struct maps *m, struct oxd_proc *p)
{
	memset(p, 0, sizeof(*p));
	p->pid = (int32_t)r_u32(r);
	p->uid = r_u32(r);
	p->exe = m->str[r_id(r, m->nstr)];
	p->cmdline = m->str[r_id(r, m->nstr)];
	uint32_t fl = r_u32(r);
	p->removed = fl & 1;
	p->claimed = (fl >> 1) & 1;
	p->mode = (uint8_t)(fl >> 8);
	p->state = OXP_AGENT_EXITED;
	p->hz_requested = r_u32(r);
	uint64_t hz = r_u64(r);
	memcpy(&p->hz_achieved, &hz, 8);
	const uint8_t *src = r_bytes(r, sizeof(p->source));
	if (src)
		memcpy(p->source, src, sizeof(p->source));
	p->source[sizeof(p->source) - 1] = 0;
	uint64_t *v[] = { &p->samples, &p->dropped_daemon, &p->dropped_agent, &p->unwind_fail,
			  &p->connected_ms, &p->first_ms, &p->last_ms, &p->last_batch_ms,
			  &p->taken, &p->sent };
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		*v[i] = r_u64(r);
}

/* Strings, frames, processes, threads: the dictionary. */
static void load_dict(struct reader *r, struct oxd_agg *a, struct maps *m)
{
	m->nstr = r_u32(r);
	m->str = oxd_xcalloc((size_t)m->nstr + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < m->nstr && !r->bad; i++) {
		uint32_t len = r_u32(r);
		const uint8_t *p = len > OXP_MAX_STR ? (r->bad = 1, NULL) : r_bytes(r, len);
		if (p)
			m->str[i] = oxd_agg_str(a, (const char *)p, len);
	}
	m->nframe = r_u32(r);
	m->frame = oxd_xcalloc((size_t)m->nframe + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < m->nframe && !r->bad; i++) {
		uint32_t fu = m->str[r_id(r, m->nstr)], mo = m->str[r_id(r, m->nstr)];
		uint64_t off = r_u64(r);
		if (!r->bad)
			m->frame[i] = oxd_agg_frame(a, fu, mo, off);
	}
	m->nproc = r_u32(r);
	m->proc = oxd_xcalloc((size_t)m->nproc + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < m->nproc && !r->bad; i++) {
		struct oxd_proc p;
		get_proc(r, m, &p);
		if (!r->bad)
			m->proc[i] = oxd_agg_restore_proc(a, &p);
	}
	m->nthread = r_u32(r);
	m->thread = oxd_xcalloc((size_t)m->nthread + 1, sizeof(uint32_t));
	for (uint32_t i = 0; i < m->nthread && !r->bad; i++) {
		uint32_t pr = m->proc[r_id(r, m->nproc)], tid = r_u32(r);
		uint32_t nm = m->str[r_id(r, m->nstr)];
		if (!r->bad)
			m->thread[i] = oxd_agg_thread(a, pr, tid, nm);
	}
}

/* Stacks (kept as references into the file) and entries. */
static void load_samples(struct reader *r, struct oxd_agg *a, struct maps *m)
{
	m->nstack = r_u32(r);
	if (!r->bad && (uint64_t)m->nstack * 4 > (uint64_t)(r->end - r->p))
		r->bad = 1;
	m->stack_off = oxd_xcalloc(r->bad ? 1 : (size_t)m->nstack + 1, sizeof(uint64_t));
	m->stack_n = oxd_xcalloc(r->bad ? 1 : (size_t)m->nstack + 1, sizeof(uint32_t));
	const uint8_t *base = r->p;
	for (uint32_t i = 0; i < m->nstack && !r->bad; i++) {
		m->stack_n[i] = r_u32(r);
		if (m->stack_n[i] > OXP_MAX_DEPTH)
			r->bad = 1;
		m->stack_off[i] = (uint64_t)(r->p - base);
		for (uint32_t j = 0; j < m->stack_n[i] && !r->bad; j++)
			r_id(r, m->nframe);
	}
	uint64_t n = r_u64(r);
	uint32_t f[OXP_MAX_DEPTH];
	for (uint64_t i = 0; i < n && !r->bad; i++) {
		uint32_t t = r_id(r, m->nthread), s = r_id(r, m->nstack);
		uint64_t count = r_u64(r);
		if (r->bad)
			break;
		struct reader fr = { base + m->stack_off[s], r->end, 0 };
		for (uint32_t j = 0; j < m->stack_n[s]; j++)
			f[j] = m->frame[r_u32(&fr)];
		oxd_agg_restore_entry(a, m->thread[t], f, m->stack_n[s], count);
	}
}

/* Parse a whole file image into a.  0 or a reason. */
static const char *parse(const uint8_t *buf, size_t len, struct oxd_agg *a)
{
	if (len < HDR || memcmp(buf, MAGIC, 8) != 0)
		return "not an oxprofd snapshot";
	struct reader h = { buf + 8, buf + HDR, 0 };
	uint32_t format = r_u32(&h);
	r_u32(&h);
	uint64_t plen = r_u64(&h);
	uint32_t crc = r_u32(&h), hcrc = r_u32(&h);
	if (hcrc != crc32_update(0, buf, 28))
		return "damaged header";
	if (format < FORMAT_OLDEST || format > FORMAT)
		return "unknown format version";
	if (plen != len - HDR)
		return "truncated";
	if (crc != crc32_update(0, buf + HDR, plen))
		return "checksum mismatch";
	struct reader r = { buf + HDR, buf + len, 0 };
	uint64_t samples = r_u64(&r), dropped = r_u64(&r);
	r_u64(&r);
	struct maps m = { 0 };
	load_dict(&r, a, &m);
	load_samples(&r, a, &m);
	uint32_t ninst = format >= 3 ? r_u32(&r) : 0;
	for (uint32_t i = 0; i < ninst && !r.bad; i++) {
		uint32_t pr = m.proc[r_id(&r, m.nproc)];
		uint64_t inst = r_u64(&r), seq = r_u64(&r);
		if (!r.bad) {
			a->procs[pr].instance = inst;
			a->procs[pr].seq_received = a->procs[pr].seq_durable = seq;
		}
	}
	if (r.p != r.end)
		r.bad = 1;
	free(m.str);
	free(m.frame);
	free(m.proc);
	free(m.thread);
	free(m.stack_off);
	free(m.stack_n);
	a->samples = samples;
	a->dropped = dropped;
	return r.bad ? "inconsistent contents" : NULL;
}

/* 1 loaded, 0 not. */
static int load_file(struct oxd_agg *a, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			oxd_warn("snapshot %s: %s; skipped", path, strerror(errno));
		return 0;
	}
	struct stat st;
	uint8_t *buf = NULL;
	const char *why = NULL;
	if (fstat(fd, &st) < 0 || st.st_size < 0)
		why = "cannot stat";
	else {
		buf = oxd_xmalloc((size_t)st.st_size + 1);
		size_t got = 0;
		while (got < (size_t)st.st_size) {
			ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		why = got != (size_t)st.st_size ? "read error" : NULL;
		struct oxd_agg tmp;
		oxd_agg_init(&tmp, a->mem_budget, a->proc_budget);
		if (!why)
			why = parse(buf, got, &tmp);
		if (!why) {
			oxd_agg_destroy(a);
			*a = tmp;
		} else {
			oxd_agg_destroy(&tmp);
		}
	}
	close(fd);
	free(buf);
	if (why)
		oxd_err("snapshot %s is unusable (%s); skipped", path, why);
	return !why;
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
