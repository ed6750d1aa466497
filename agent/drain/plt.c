/*
 * plt.c - see plt.h.  x86-64 stubs (System V psABI, and the IBT layouts of
 * binutils' -z ibtplt):
 *   .plt      16-byte header, then 16-byte entries "jmp *GOT(%rip); push N;
 *             jmp header", or with IBT "endbr64; push N; jmp header"
 *   .plt.sec  16-byte "endbr64; bnd jmp *GOT(%rip)" (IBT)
 *   .plt.got  8 (or 16 with IBT) bytes "jmp *GOT(%rip)" for functions whose
 *             address is taken too, so their slot is a GLOB_DAT one
 * A stub's GOT slot is read from its "ff 25 disp32" jump; a lazy IBT entry
 * has none, and its push N gives the .rela.plt entry instead.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "elfimage.h"
#include "elfsyms.h"
#include "plt.h"

#define MAX_PLT (4u << 20)     /* bytes of stubs: 260 000 entries */
#define MAX_DYN (64u << 20)    /* .dynsym and .dynstr */
#define MAX_SLOTS (1u << 20) /* GOT slots kept */
#define RELA_CHUNK 1024
#define MAX_NAME 256

struct slot {
	uint64_t got;
	uint64_t addend;
	uint32_t sym, type;
};

struct plt {
	const struct oxa_elfimage *im;
	struct oxa_elfsyms *e;
	struct slot *plt_order;   /* .rela.plt as it is (push N is an index) */
	size_t nplt;
	struct slot *by_got;      /* every slot a stub may jump through, sorted */
	size_t ngot, capgot;
	Elf64_Sym *dynsym;
	size_t ndynsym;
	char *dynstr;
	uint64_t dynstr_size;
};

static int got_order(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;
	return x->got < y->got ? -1 : x->got > y->got;
}

static int keep(uint32_t type)
{
	return type == R_X86_64_JUMP_SLOT || type == R_X86_64_GLOB_DAT ||
	       type == R_X86_64_IRELATIVE;
}

/* Read one RELA section's slots; all of them into plt_order too when
 * ordered (.rela.plt). */
static int read_rela(struct plt *p, const Elf64_Shdr *s, int ordered)
{
	static Elf64_Rela buf[RELA_CHUNK]; /* drain thread only */
	if (s->sh_entsize != sizeof(Elf64_Rela) || (ordered && s->sh_size > MAX_DYN))
		return 0;
	size_t n = s->sh_size / sizeof(Elf64_Rela);
	if (ordered && !(p->plt_order = calloc(n ? n : 1, sizeof(*p->plt_order))))
		return -ENOMEM;
	for (size_t i = 0; i < n; i += RELA_CHUNK) {
		size_t k = n - i < RELA_CHUNK ? n - i : RELA_CHUNK;
		int r = oxa_elfimage_read(p->im, buf, k * sizeof(*buf),
					  s->sh_offset + i * sizeof(*buf));
		if (r < 0)
			return r;
		for (size_t j = 0; j < k; j++) {
			struct slot sl = { buf[j].r_offset, (uint64_t)buf[j].r_addend,
					   (uint32_t)ELF64_R_SYM(buf[j].r_info),
					   (uint32_t)ELF64_R_TYPE(buf[j].r_info) };
			if (ordered)
				p->plt_order[p->nplt++] = sl;
			if (!keep(sl.type) || p->ngot == MAX_SLOTS)
				continue;
			if (p->ngot == p->capgot) {
				size_t c = p->capgot ? p->capgot * 2 : 256;
				struct slot *v = realloc(p->by_got, c * sizeof(*v));
				if (!v)
					return -ENOMEM;
				p->by_got = v;
				p->capgot = c;
			}
			p->by_got[p->ngot++] = sl;
		}
	}
	return 0;
}

/* .dynsym and its strings, for the slots' names. */
static int read_dynsym(struct plt *p)
{
	const Elf64_Shdr *s = oxa_elfimage_by_type(p->im, SHT_DYNSYM);
	if (!s || s->sh_entsize != sizeof(Elf64_Sym) || s->sh_link >= p->im->nsh)
		return 0;
	const Elf64_Shdr *str = &p->im->sh[s->sh_link];
	if (!oxa_elfimage_in(p->im, str->sh_offset, str->sh_size))
		return 0;
	int r = oxa_elfimage_load(p->im, s, MAX_DYN, (uint8_t **)&p->dynsym);
	if (r == 0)
		r = oxa_elfimage_load(p->im, str, MAX_DYN, (uint8_t **)&p->dynstr);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	p->ndynsym = s->sh_size / sizeof(Elf64_Sym);
	p->dynstr_size = str->sh_size;
	return 0;
}

/* The function slot sl is filled with: into out (MAX_NAME), 0 if none. */
static size_t slot_name(const struct plt *p, const struct slot *sl, char *out)
{
	const char *nm = NULL;
	size_t len = 0;
	if (sl->type == R_X86_64_IRELATIVE) {
		nm = oxa_elfsyms_find(p->e, sl->addend);
		len = nm ? strlen(nm) : 0;
	} else if (sl->sym && sl->sym < p->ndynsym && p->dynsym[sl->sym].st_name < p->dynstr_size) {
		nm = p->dynstr + p->dynsym[sl->sym].st_name;
		len = strnlen(nm, (size_t)(p->dynstr_size - p->dynsym[sl->sym].st_name));
		const char *v = memchr(nm, '@', len);
		if (v && v > nm)
			len = (size_t)(v - nm); /* "memcpy@GLIBC_2.14" -> "memcpy" */
	}
	if (!nm || !len || len >= MAX_NAME)
		return 0;
	memcpy(out, nm, len);
	return len;
}

static const struct slot *by_got(const struct plt *p, uint64_t got)
{
	struct slot key = { .got = got };
	if (!p->ngot)
		return NULL;
	return bsearch(&key, p->by_got, p->ngot, sizeof(*p->by_got), got_order);
}

/* The slot of the stub at b[0..len) whose link-time address is addr. */
static const struct slot *stub_slot(const struct plt *p, const uint8_t *b, size_t len,
				    uint64_t addr)
{
	for (size_t i = 0; i + 6 <= len; i++)
		if (b[i] == 0xff && b[i + 1] == 0x25) {
			int32_t d;
			memcpy(&d, b + i + 2, 4);
			return by_got(p, addr + i + 6 + (uint64_t)(int64_t)d);
		}
	static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };
	size_t at = len >= 9 && !memcmp(b, endbr64, 4) ? 4 : 0;
	if (at + 5 <= len && b[at] == 0x68) {
		uint32_t n;
		memcpy(&n, b + at + 1, 4);
		return n < p->nplt ? &p->plt_order[n] : NULL;
	}
	return NULL;
}

/* Name the stubs of section name, entsize bytes each (its sh_entsize when
 * that is 8 or 16), after skip bytes of header. */
static int name_stubs(struct plt *p, const char *name, uint64_t entsize, uint64_t skip)
{
	const Elf64_Shdr *s = oxa_elfimage_by_name(p->im, name);
	if (!s || s->sh_type != SHT_PROGBITS)
		return 0;
	if (s->sh_entsize == 8 || s->sh_entsize == 16)
		entsize = s->sh_entsize;
	uint8_t *b;
	int r = oxa_elfimage_load(p->im, s, MAX_PLT, &b);
	if (r < 0)
		return r == -ENOMEM ? r : 0;
	char nm[MAX_NAME];
	for (uint64_t k = skip; r == 0 && k <= s->sh_size && s->sh_size - k >= entsize; k += entsize) {
		const struct slot *sl = stub_slot(p, b + k, (size_t)entsize, s->sh_addr + k);
		size_t len = sl ? slot_name(p, sl, nm) : 0;
		if (len)
			r = oxa_elfsyms_add(p->e, s->sh_addr + k, entsize, STB_GLOBAL, nm, len, "@plt");
	}
	free(b);
	return r;
}

int oxa_plt_read(struct oxa_elfsyms *e, const struct oxa_elfimage *im)
{
	if (im->machine != EM_X86_64 || !oxa_elfimage_by_name(im, ".plt"))
		return 0;
	struct plt p = { .im = im, .e = e };
	const Elf64_Shdr *rp = oxa_elfimage_by_name(im, ".rela.plt");
	const Elf64_Shdr *rd = oxa_elfimage_by_name(im, ".rela.dyn");
	int r = rp && rp->sh_type == SHT_RELA ? read_rela(&p, rp, 1) : 0;
	/* GLOB_DAT slots matter only to .plt.got, and .rela.dyn can be large. */
	if (r == 0 && rd && rd->sh_type == SHT_RELA && oxa_elfimage_by_name(im, ".plt.got"))
		r = read_rela(&p, rd, 0);
	if (r == 0)
		r = read_dynsym(&p);
	if (r == 0) {
		if (p.ngot)
			qsort(p.by_got, p.ngot, sizeof(*p.by_got), got_order);
		r = name_stubs(&p, ".plt", 16, 16);
	}
	if (r == 0)
		r = name_stubs(&p, ".plt.sec", 16, 0);
	if (r == 0)
		r = name_stubs(&p, ".plt.got", 8, 0);
	free(p.plt_order);
	free(p.by_got);
	free(p.dynsym);
	free(p.dynstr);
	return r == -ENOMEM ? r : 0;
}
