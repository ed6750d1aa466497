/*
 * snapwrite.c - writing the aggregate to disk: the payload (format in
 * snapfmt.h), its header, and the atomic replace (temp file, fsync,
 * rename, fsync of the directory).
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
#include "ox/io.h"
#include "ox/xalloc.h"

#define WBUF (1u << 20)

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
	if (!w->err)
		w->err = ox_write_all(w->fd, w->buf, w->len);
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

static int has_cpu(const struct oxd_proc *p)
{
	return p->cpu_user_ms || p->cpu_sys_ms || p->sampled_user_ms || p->sampled_sys_ms ||
	       p->cpu_covers;
}

/* Format 4: the processes' CPU time (snapfmt.h). */
static void put_cpu(struct writer *w, const struct oxd_agg *a)
{
	uint32_t n = 0;
	for (size_t i = 0; i < a->nprocs; i++)
		n += has_cpu(&a->procs[i]);
	w_u32(w, n);
	for (size_t i = 0; i < a->nprocs; i++) {
		const struct oxd_proc *p = &a->procs[i];
		if (!has_cpu(p))
			continue;
		w_u32(w, (uint32_t)i);
		w_u32(w, p->cpu_covers);
		const uint64_t v[] = { p->cpu_user_ms, p->cpu_sys_ms, p->sampled_user_ms,
				       p->sampled_sys_ms, p->base_user_ms, p->base_sys_ms };
		for (size_t k = 0; k < sizeof(v) / sizeof(v[0]); k++)
			w_u64(w, v[k]);
	}
}

/* Format 5: the time slots (snapfmt.h). */
static void put_hist(struct writer *w, const struct oxd_agg *a)
{
	const struct oxd_hist *h = &a->hist;
	w_u32(w, h->nslots);
	for (size_t i = 0; i < h->nslots; i++) {
		w_u32(w, h->slots[i].start);
		w_u32(w, h->slots[i].width);
	}
	w_u64(w, h->ncells);
	size_t s = 0;
	for (size_t i = 0; i < h->ncells; i++) {
		const struct oxd_hcell *c = &h->cells[i];
		/* Cells are in no order: find the slot by search. */
		size_t lo = 0, hi = h->nslots;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (h->slots[mid].start < c->start)
				lo = mid + 1;
			else
				hi = mid;
		}
		s = lo;
		w_u32(w, (uint32_t)s);
		w_u32(w, c->entry);
		w_u64(w, c->count);
	}
	w_u64(w, h->merged);
	w_u64(w, h->dropped_slots);
	w_u64(w, h->dropped_samples);
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
	put_cpu(w, a);
	uint32_t nmod = 0;
	for (size_t i = 0; i < a->cap_build_ids; i++)
		nmod += a->build_ids[i] || a->module_loads[i];
	w_u32(w, nmod);
	for (size_t i = 0; i < a->cap_build_ids; i++)
		if (a->build_ids[i] || a->module_loads[i]) {
			w_u32(w, (uint32_t)i);
			w_u32(w, a->build_ids[i] ? a->build_ids[i] - 1 : UINT32_MAX);
			w_u64(w, a->module_loads[i]);
		}
	uint32_t nlin = 0;
	for (size_t i = 0; i < a->nprocs; i++)
		nlin += a->procs[i].ppid > 0 || a->procs[i].exited_ms;
	w_u32(w, nlin);
	for (size_t i = 0; i < a->nprocs; i++)
		if (a->procs[i].ppid > 0 || a->procs[i].exited_ms) {
			w_u32(w, (uint32_t)i);
			w_u32(w, (uint32_t)(a->procs[i].ppid > 0 ? a->procs[i].ppid : 0));
			w_u64(w, a->procs[i].exited_ms);
		}
	put_hist(w, a);
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
	w.buf = ox_xmalloc(WBUF);
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
