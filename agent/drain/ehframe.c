/*
 * ehframe.c - see ehframe.h.  The section is walked record by record (the
 * .eh_frame_hdr index is not needed: the walk sees every FDE, and a module
 * without the index still has its functions).  Format: the LSB "Exception
 * Frame" chapter; pointers are DW_EH_PE-encoded as their CIE's 'R'
 * augmentation says.
 *
 * Memory: the section is read through a 64 KiB window, never whole, and
 * what is kept is 8 bytes a function; the CIEs' encodings are cached (a
 * module has a handful of CIEs, each FDE points back to one).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ehframe.h"
#include "elfimage.h"
#include "grow.h"

#define WINDOW (64u << 10)
#define CIE_READ 512          /* the head of a CIE, where its augmentation is */
#define CIE_CACHE 16
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

/* The FDE pointer encoding of the CIE record b[0..size) (its length field
 * first) at link-time address addr, or -1. */
static int cie_encoding(const uint8_t *b, uint64_t size, uint64_t addr)
{
	struct cur c = { b, 0, size, 0 };
	uint64_t len = take(&c, 4);
	if (len == 0xffffffff)
		len = take(&c, 8);
	if (c.bad)
		return -1;
	if (len < c.end - c.pos)
		c.end = c.pos + len;
	if (take(&c, 4) != 0)
		return -1; /* not a CIE */
	unsigned version = (unsigned)take(&c, 1);
	if (c.bad)
		return -1;
	const char *aug = (const char *)b + c.pos;
	size_t alen = strnlen(aug, (size_t)(c.end - c.pos));
	if (alen == c.end - c.pos)
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
			pointer(&c, e & ~PE_INDIRECT, addr + c.pos);
			break;
		}
		case 'S': case 'B': case 'G': break;
		default: return -1;
		}
	}
	return c.bad ? -1 : 0;
}

struct walk {
	const struct oxa_elfimage *im;
	uint64_t off, size, addr; /* the section: file offset, size, address */
	uint8_t *win;             /* WINDOW bytes of it from wlo, wlen valid */
	uint64_t wlo, wlen;
	struct { uint64_t off; int enc; } cie[CIE_CACHE];
	unsigned ncie, next_cie;
	uint64_t base;            /* what kept starts count from */
	struct oxa_fde *v;
	size_t n, cap;
};

/* Section bytes [pos, pos + len) in the window, or NULL (len > WINDOW, or
 * a read error). */
static const uint8_t *need(struct walk *w, uint64_t pos, uint64_t len)
{
	if (len > WINDOW || pos > w->size || len > w->size - pos)
		return NULL;
	if (pos >= w->wlo && pos + len <= w->wlo + w->wlen)
		return w->win + (pos - w->wlo);
	uint64_t n = w->size - pos < WINDOW ? w->size - pos : WINDOW;
	if (oxa_elfimage_read(w->im, w->win, (size_t)n, w->off + pos) < 0)
		return NULL;
	w->wlo = pos;
	w->wlen = n;
	return w->win;
}

/* The encoding of the CIE at section offset off (cached). */
static int cie_at(struct walk *w, uint64_t off)
{
	for (unsigned i = 0; i < w->ncie; i++)
		if (w->cie[i].off == off)
			return w->cie[i].enc;
	uint8_t b[CIE_READ];
	uint64_t n = w->size - off < CIE_READ ? w->size - off : CIE_READ;
	int enc = oxa_elfimage_read(w->im, b, (size_t)n, w->off + off) < 0
			  ? -1 : cie_encoding(b, n, w->addr + off);
	unsigned i = w->ncie < CIE_CACHE ? w->ncie++ : w->next_cie++ % CIE_CACHE;
	w->cie[i].off = off;
	w->cie[i].enc = enc;
	return enc;
}

/* Keep the FDE whose record (length field first) is r[0..len) at section
 * offset off; id_at is where its CIE pointer is in r.  0 or -ENOMEM. */
static int add_fde(struct walk *w, const uint8_t *r, uint64_t len, uint64_t off, uint64_t id_at)
{
	struct cur c = { r, id_at, len, 0 };
	uint64_t id = take(&c, 4);
	if (c.bad || id == 0 || id > off + id_at)
		return 0; /* a CIE, or a pointer before the section */
	int enc = cie_at(w, off + id_at - id);
	if (enc < 0 || enc == PE_OMIT || (enc & PE_INDIRECT))
		return 0;
	uint64_t lo = pointer(&c, (uint8_t)enc, w->addr + off + c.pos);
	uint64_t size = pointer(&c, (uint8_t)enc & 0x0f, 0);
	if (c.bad || size == 0 || lo + size < lo || lo < w->base || lo - w->base > UINT32_MAX ||
	    size > UINT32_MAX)
		return 0;
	if (w->n == OXA_FDES_MAX)
		return 0;
	if (oxa_grow(&w->v, &w->cap, w->n + 1, sizeof(*w->v)) < 0)
		return -ENOMEM;
	w->v[w->n++] = (struct oxa_fde){ (uint32_t)(lo - w->base), (uint32_t)size };
	return 0;
}

/* Every record in turn.  A malformed length ends the walk; a record too
 * big for the window is skipped.  0 or -ENOMEM. */
static int walk(struct walk *w)
{
	uint64_t off = 0;
	while (w->size - off >= 8) {
		const uint8_t *h = need(w, off, w->size - off < 12 ? w->size - off : 12);
		if (!h)
			return 0;
		struct cur c = { h, 0, w->size - off < 12 ? w->size - off : 12, 0 };
		uint64_t len = take(&c, 4);
		if (len == 0)
			return 0; /* the terminator */
		if (len == 0xffffffff)
			len = take(&c, 8);
		if (c.bad || len < 4 || len > w->size - off - c.pos)
			return 0;
		uint64_t total = c.pos + len;
		const uint8_t *r = need(w, off, total);
		int e = r ? add_fde(w, r, total, off, c.pos) : 0;
		if (e < 0)
			return e;
		off += total;
	}
	return 0;
}

static int by_start(const void *a, const void *b)
{
	const struct oxa_fde *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* Starts are kept as 32-bit offsets from the module's lowest code address
 * (a module's code spans far less than 4 GiB). */
static uint64_t code_base(const struct oxa_elfimage *im)
{
	uint64_t base = UINT64_MAX;
	for (size_t i = 0; i < im->nsh; i++)
		if ((im->sh[i].sh_flags & SHF_EXECINSTR) && im->sh[i].sh_addr < base)
			base = im->sh[i].sh_addr;
	return base == UINT64_MAX ? 0 : base;
}

int oxa_ehframe_read(struct oxa_fdes *f, const struct oxa_elfimage *im)
{
	memset(f, 0, sizeof(*f));
	const Elf64_Shdr *s = oxa_elfimage_by_name(im, ".eh_frame");
	if (!s || s->sh_type != SHT_PROGBITS)
		return -ENOENT;
	struct walk w = { .im = im, .off = s->sh_offset, .size = s->sh_size, .addr = s->sh_addr,
			  .base = code_base(im) };
	if (!(w.win = malloc(WINDOW)))
		return -ENOMEM;
	int r = walk(&w);
	free(w.win);
	if (r < 0) {
		free(w.v);
		return r;
	}
	if (w.n) {
		qsort(w.v, w.n, sizeof(*w.v), by_start);
		struct oxa_fde *v = realloc(w.v, w.n * sizeof(*v)); /* drop the slack */
		f->v = v ? v : w.v;
	} else {
		free(w.v);
	}
	f->n = w.n;
	f->base = w.base;
	return 0;
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
