/*
 * ehframe.c - see ehframe.h.  The section is walked record by record (the
 * .eh_frame_hdr index is not needed: the walk sees every FDE, and a module
 * without the index still has its functions).  Format: the LSB "Exception
 * Frame" chapter; pointers are DW_EH_PE-encoded as their CIE's 'R'
 * augmentation says.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ehframe.h"
#include "elfimage.h"

#define PE_OMIT 0xff
#define PE_INDIRECT 0x80
#define PE_PCREL 0x10

struct cur {
	const uint8_t *b;
	uint64_t pos, end;
	int bad;
};

static uint64_t take(struct cur *c, unsigned n)
{
	if (c->bad || n > c->end - c->pos) {
		c->bad = 1;
		return 0;
	}
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)c->b[c->pos + i] << (8 * i);
	c->pos += n;
	return v;
}

static uint64_t leb(struct cur *c, int sign)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t byte = 0x80;
	while (!c->bad && (byte & 0x80)) {
		byte = (uint8_t)take(c, 1);
		if (shift < 64)
			v |= (uint64_t)(byte & 0x7f) << shift;
		shift += 7;
	}
	if (sign && shift < 64 && (byte & 0x40))
		v |= ~(uint64_t)0 << shift;
	return v;
}

/* A pointer in encoding enc at the cursor, whose link-time address is
 * addr (for pc-relative ones).  Sets c->bad for what we do not read. */
static uint64_t pointer(struct cur *c, uint8_t enc, uint64_t addr)
{
	uint64_t v;
	switch (enc & 0x0f) {
	case 0x00: v = take(c, 8); break;
	case 0x01: v = leb(c, 0); break;
	case 0x02: v = take(c, 2); break;
	case 0x03: v = take(c, 4); break;
	case 0x04: v = take(c, 8); break;
	case 0x09: v = leb(c, 1); break;
	case 0x0a: v = (uint64_t)(int64_t)(int16_t)take(c, 2); break;
	case 0x0b: v = (uint64_t)(int64_t)(int32_t)take(c, 4); break;
	case 0x0c: v = take(c, 8); break;
	default: c->bad = 1; return 0;
	}
	switch (enc & 0x70) {
	case 0x00: return v;
	case PE_PCREL: return v + addr;
	default: c->bad = 1; return 0; /* text-, data-, func-relative: not in .eh_frame */
	}
}

/* The FDE pointer encoding of the CIE whose record starts at off, or -1. */
static int cie_encoding(const uint8_t *b, uint64_t size, uint64_t off, uint64_t sec_addr)
{
	struct cur c = { b, off, size, 0 };
	uint64_t len = take(&c, 4);
	if (len == 0xffffffff)
		len = take(&c, 8);
	if (c.bad || len > size - c.pos)
		return -1;
	c.end = c.pos + len;
	if (take(&c, 4) != 0)
		return -1; /* not a CIE */
	unsigned version = (unsigned)take(&c, 1);
	const char *aug = (const char *)b + c.pos;
	size_t alen = strnlen(aug, (size_t)(c.end - c.pos));
	if (c.bad || alen == c.end - c.pos)
		return -1;
	c.pos += alen + 1;
	if (version == 4)
		take(&c, 2); /* address and segment selector sizes */
	leb(&c, 0);          /* code alignment */
	leb(&c, 1);          /* data alignment */
	if (version == 1)
		take(&c, 1);
	else
		leb(&c, 0);  /* return address register */
	if (!alen)
		return c.bad ? -1 : 0; /* absolute pointers */
	if (aug[0] != 'z')
		return -1;
	leb(&c, 0);          /* augmentation data length */
	for (size_t i = 1; i < alen && !c.bad; i++) {
		switch (aug[i]) {
		case 'R': {
			int e = (int)take(&c, 1);
			return c.bad ? -1 : e;
		}
		case 'L': take(&c, 1); break;
		case 'P': {
			uint8_t e = (uint8_t)take(&c, 1);
			pointer(&c, e & ~PE_INDIRECT, sec_addr + c.pos);
			break;
		}
		case 'S': case 'B': case 'G': break;
		default: return -1;
		}
	}
	return c.bad ? -1 : 0;
}

struct walk {
	const uint8_t *b;
	uint64_t size, addr;  /* the section, its link-time address */
	uint64_t cie_off;     /* the last CIE read, and its encoding */
	int cie_enc;
};

/* The FDE whose body (after the length) is [pos, end): 1 and its range,
 * 0 to skip it. */
static int read_fde(struct walk *w, uint64_t pos, uint64_t end, uint64_t id,
		    uint64_t *lo, uint64_t *len)
{
	if (id > pos)
		return 0;
	uint64_t cie = pos - id;
	if (cie != w->cie_off || w->cie_enc == -2) {
		w->cie_off = cie;
		w->cie_enc = cie_encoding(w->b, w->size, cie, w->addr);
	}
	int enc = w->cie_enc;
	if (enc < 0 || enc == PE_OMIT || (enc & PE_INDIRECT))
		return 0;
	struct cur c = { w->b, pos + 4, end, 0 };
	*lo = pointer(&c, (uint8_t)enc, w->addr + c.pos);
	*len = pointer(&c, (uint8_t)enc & 0x0f, 0);
	return !c.bad && *len > 0 && *lo + *len > *lo;
}

struct range {
	uint64_t lo, len;
};

static int by_lo(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Every FDE's range into r (room for cap); the count. */
static size_t walk(struct walk *w, struct range *r, size_t cap)
{
	size_t n = 0;
	uint64_t off = 0;
	while (w->size - off >= 8 && n < cap) {
		struct cur c = { w->b, off, w->size, 0 };
		uint64_t len = take(&c, 4);
		if (len == 0)
			break; /* the terminator */
		if (len == 0xffffffff)
			len = take(&c, 8);
		if (c.bad || len < 4 || len > w->size - c.pos)
			break;
		uint64_t body = c.pos, end = c.pos + len;
		uint64_t id = take(&c, 4);
		if (id != 0 && read_fde(w, body, end, id, &r[n].lo, &r[n].len))
			n++;
		off = end;
	}
	return n;
}

/* Sorted ranges -> the compact table: offsets from the lowest start, and
 * functions beyond 4 GiB of it (no real module) left out. */
static int compact(struct oxa_fdes *f, const struct range *r, size_t n)
{
	f->v = malloc((n ? n : 1) * sizeof(*f->v));
	if (!f->v)
		return -ENOMEM;
	f->base = n ? r[0].lo : 0;
	for (size_t i = 0; i < n; i++)
		if (r[i].lo - f->base <= UINT32_MAX && r[i].len <= UINT32_MAX)
			f->v[f->n++] = (struct oxa_fde){ (uint32_t)(r[i].lo - f->base),
							 (uint32_t)r[i].len };
	return 0;
}

int oxa_ehframe_read(struct oxa_fdes *f, const struct oxa_elfimage *im)
{
	memset(f, 0, sizeof(*f));
	const Elf64_Shdr *s = oxa_elfimage_by_name(im, ".eh_frame");
	if (!s || s->sh_type != SHT_PROGBITS)
		return -ENOENT;
	uint8_t *b;
	int r = oxa_elfimage_load(im, s, OXA_EHFRAME_MAX, &b);
	if (r < 0)
		return r;
	/* An FDE takes at least 16 bytes: the count is bounded by the size. */
	size_t cap = (size_t)(s->sh_size / 16);
	if (cap > OXA_FDES_MAX)
		cap = OXA_FDES_MAX;
	struct range *rg = malloc((cap ? cap : 1) * sizeof(*rg));
	if (!rg) {
		free(b);
		return -ENOMEM;
	}
	struct walk w = { b, s->sh_size, s->sh_addr, 0, -2 };
	size_t n = walk(&w, rg, cap);
	free(b);
	qsort(rg, n, sizeof(*rg), by_lo);
	r = compact(f, rg, n);
	free(rg);
	return r;
}

void oxa_fdes_destroy(struct oxa_fdes *f)
{
	free(f->v);
	memset(f, 0, sizeof(*f));
}

int oxa_fdes_find(const struct oxa_fdes *f, uint64_t a, uint64_t *start)
{
	if (!f->n || a < f->base || a - f->base > UINT32_MAX)
		return 0;
	uint32_t x = (uint32_t)(a - f->base);
	size_t lo = 0, hi = f->n;
	while (lo < hi) { /* first FDE starting above x */
		size_t mid = (lo + hi) / 2;
		if (f->v[mid].start <= x)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || x - f->v[lo - 1].start >= f->v[lo - 1].size)
		return 0;
	*start = f->base + f->v[lo - 1].start;
	return 1;
}
