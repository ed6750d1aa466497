/*
 * elfsyms.c - read an ELF module's function symbols and PLT stubs, and on
 * first need its function extents (ehframe.c).  Every offset and count in
 * the file is checked against its size (elfimage.c): a corrupt or hostile
 * file gives no symbols, never a crash inside the host process.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elfimage.h"
#include "elfsyms.h"
#include "grow.h"
#include "host/fds.h"
#include "plt.h"

/* Bounds on what one file may make us allocate: far above any real
 * binary's tables, far below what would hurt the host. */
#define MAX_STRTAB (256u << 20)
#define MAX_NOTE 4096
#define SYM_CHUNK 1024

int oxa_elfsyms_add(struct oxa_elfsyms *e, uint64_t addr, uint64_t size, int bind,
		    const char *name, size_t len, const char *suffix)
{
	size_t slen = suffix ? strlen(suffix) : 0;
	if (len + slen + 1 > UINT32_MAX - e->names_len)
		return -EFBIG;
	if (oxa_grow(&e->syms, &e->cap, e->n + 1, sizeof(*e->syms)) < 0 ||
	    oxa_grow(&e->names, &e->names_cap, e->names_len + len + slen + 1, 1) < 0)
		return -ENOMEM;
	char *p = e->names + e->names_len;
	memcpy(p, name, len);
	if (slen)
		memcpy(p + len, suffix, slen);
	p[len + slen] = 0;
	e->syms[e->n++] = (struct oxa_elfsym){ addr, size, (uint32_t)e->names_len, (uint8_t)bind };
	e->names_len += len + slen + 1;
	return 0;
}

static int by_addr(const void *a, const void *b)
{
	const struct oxa_elfsym *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

void oxa_elfsyms_sort(struct oxa_elfsyms *e)
{
	if (e->n)
		qsort(e->syms, e->n, sizeof(*e->syms), by_addr);
}

static int is_func(const Elf64_Sym *s, uint64_t strsize)
{
	int t = ELF64_ST_TYPE(s->st_info);
	return (t == STT_FUNC || t == STT_GNU_IFUNC) && s->st_value && s->st_shndx != SHN_UNDEF &&
	       s->st_name < strsize;
}

/* The length a symbol's name is kept at: "memcpy@GLIBC_2.14" -> "memcpy". */
static size_t name_len(const char *str, uint64_t strsize, uint32_t at)
{
	const char *nm = str + at;
	size_t len = strnlen(nm, (size_t)(strsize - at));
	const char *v = memchr(nm, '@', len);
	return v && v > nm ? (size_t)(v - nm) : len;
}

/* Add the function symbols of table symtab, SYM_CHUNK at a time.  Drain
 * thread only (one static buffer). */
static int copy_syms(struct oxa_elfsyms *e, const struct oxa_elfimage *im,
		     const Elf64_Shdr *symtab)
{
	static Elf64_Sym buf[SYM_CHUNK]; /* drain thread only */
	if (symtab->sh_link >= im->nsh || symtab->sh_entsize != sizeof(Elf64_Sym))
		return -ENOEXEC;
	const Elf64_Shdr *strsec = &im->sh[symtab->sh_link];
	if (!oxa_elfimage_in(im, strsec->sh_offset, strsec->sh_size))
		return -ENOEXEC;
	char *str;
	int r = oxa_elfimage_load(im, strsec, MAX_STRTAB, (uint8_t **)&str);
	if (r < 0)
		return r == -EFBIG ? -ENOEXEC : r;
	uint64_t strsize = strsec->sh_size;
	size_t nsym = symtab->sh_size / sizeof(Elf64_Sym);
	for (size_t i = 0; r == 0 && i < nsym; i += SYM_CHUNK) {
		size_t k = nsym - i < SYM_CHUNK ? nsym - i : SYM_CHUNK;
		r = oxa_elfimage_read(im, buf, k * sizeof(Elf64_Sym),
				      symtab->sh_offset + i * sizeof(Elf64_Sym));
		for (size_t j = 0; r == 0 && j < k; j++)
			if (is_func(&buf[j], strsize))
				r = oxa_elfsyms_add(e, buf[j].st_value, buf[j].st_size,
						    ELF64_ST_BIND(buf[j].st_info), str + buf[j].st_name,
						    name_len(str, strsize, buf[j].st_name), NULL);
	}
	free(str);
	return r;
}

/* "/usr/lib/debug/.build-id/ab/cdef....debug" from the build-id note. */
static int debug_path(const struct oxa_elfimage *im, char *out, size_t len)
{
	/* uint32_t for the alignment of Elf64_Nhdr. */
	static uint32_t note[MAX_NOTE / 4];
	for (size_t i = 0; i < im->nsh; i++) {
		const Elf64_Shdr *s = &im->sh[i];
		if (s->sh_type != SHT_NOTE || s->sh_size < sizeof(Elf64_Nhdr) + 4 ||
		    s->sh_size > MAX_NOTE || oxa_elfimage_read(im, note, s->sh_size, s->sh_offset) < 0)
			continue;
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)note;
		uint64_t desc = sizeof(*nh) + (((uint64_t)nh->n_namesz + 3) & ~(uint64_t)3);
		if (nh->n_type != NT_GNU_BUILD_ID || nh->n_descsz < 2 || nh->n_descsz > 64 ||
		    desc + nh->n_descsz > s->sh_size)
			continue;
		const uint8_t *id = (const uint8_t *)note + desc;
		int n = snprintf(out, len, "/usr/lib/debug/.build-id/%02x/", id[0]);
		for (uint32_t k = 1; k < nh->n_descsz && n > 0 && (size_t)n + 3 < len; k++)
			n += snprintf(out + n, len - (size_t)n, "%02x", id[k]);
		return n > 0 && (size_t)n + 7 < len && snprintf(out + n, len - (size_t)n, ".debug") > 0 ? 0 : -ENOENT;
	}
	return -ENOENT;
}

static int open_file(const char *path, struct oxa_fdid *id)
{
	/* O_NONBLOCK: a FIFO in place of a library must not block us; fstat
	 * then refuses anything but a regular file.  Reading takes a while:
	 * the fd is the agent's (fds.h), and only pread touches it, which
	 * moves no offset even on a number the host has reused meanwhile. */
	return oxa_fd_open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, id);
}

/* The symbols of the build-id debug file named by im, if there is one. */
static int load_debug(struct oxa_elfsyms *e, const struct oxa_elfimage *im)
{
	char dpath[256];
	struct oxa_elfimage dbg;
	struct oxa_fdid id;
	if (debug_path(im, dpath, sizeof(dpath)) < 0)
		return -ENOENT;
	int fd = open_file(dpath, &id);
	if (fd < 0)
		return fd;
	int r = oxa_elfimage_open_fd(&dbg, fd);
	if (r == 0) {
		const Elf64_Shdr *dtab = oxa_elfimage_by_type(&dbg, SHT_SYMTAB);
		r = dtab ? copy_syms(e, &dbg, dtab) : -ENOENT;
		oxa_elfimage_close(&dbg);
	}
	oxa_fd_close(fd, &id);
	if (r < 0)
		oxa_elfsyms_destroy(e);
	return r;
}

/* The symbols, then the PLT stubs named with their help. */
static int load_image(struct oxa_elfsyms *e, const struct oxa_elfimage *im, int follow_debug)
{
	const Elf64_Shdr *tab = oxa_elfimage_by_type(im, SHT_SYMTAB);
	int r = -ENOENT;
	if (!tab && follow_debug)
		r = load_debug(e, im);
	if (r < 0 && !tab)
		tab = oxa_elfimage_by_type(im, SHT_DYNSYM);
	if (r < 0 && tab)
		r = copy_syms(e, im, tab);
	oxa_elfsyms_sort(e);
	/* A module without symbols may still have a PLT to name. */
	int p = oxa_plt_read(e, im);
	oxa_elfsyms_sort(e);
	if (p == -ENOMEM || (r < 0 && r != -ENOENT))
		return p == -ENOMEM ? p : r;
	return e->n ? 0 : r;
}

static int load(struct oxa_elfsyms *e, int fd, int follow_debug)
{
	memset(e, 0, sizeof(*e));
	struct oxa_elfimage im;
	int r = oxa_elfimage_open_fd(&im, fd);
	if (r < 0)
		return r;
	r = load_image(e, &im, follow_debug);
	oxa_elfimage_close(&im);
	if (r < 0)
		oxa_elfsyms_destroy(e);
	return r;
}

int oxa_elfsyms_load_fd(struct oxa_elfsyms *e, int fd)
{
	return load(e, fd, 0);
}

int oxa_elfsyms_load(struct oxa_elfsyms *e, const char *path)
{
	memset(e, 0, sizeof(*e));
	struct oxa_fdid id;
	int fd = open_file(path, &id);
	if (fd < 0)
		return fd;
	int r = load(e, fd, 1);
	oxa_fd_close(fd, &id);
	return r;
}

int oxa_elfsyms_load_mem(struct oxa_elfsyms *e, const void *mem, size_t size)
{
	memset(e, 0, sizeof(*e));
	struct oxa_elfimage im;
	int r = oxa_elfimage_open_mem(&im, mem, size);
	if (r < 0)
		return r;
	r = load_image(e, &im, 0);
	e->fdes_read = 1;
	int f = oxa_ehframe_read(&e->fdes, &im);
	oxa_elfimage_close(&im);
	if (r < 0 && f < 0)
		oxa_elfsyms_destroy(e);
	return r < 0 && f < 0 ? r : 0;
}

int oxa_elfsyms_load_fdes_fd(struct oxa_elfsyms *e, int fd)
{
	if (e->fdes_read)
		return 0;
	e->fdes_read = 1;
	struct oxa_elfimage im;
	int r = oxa_elfimage_open_fd(&im, fd);
	if (r < 0)
		return r;
	r = oxa_ehframe_read(&e->fdes, &im);
	oxa_elfimage_close(&im);
	return r;
}

int oxa_elfsyms_load_fdes(struct oxa_elfsyms *e, const char *path)
{
	if (e->fdes_read)
		return 0;
	struct oxa_fdid id;
	int fd = open_file(path, &id);
	if (fd < 0) {
		e->fdes_read = 1;
		return fd;
	}
	int r = oxa_elfsyms_load_fdes_fd(e, fd);
	oxa_fd_close(fd, &id);
	return r;
}

void oxa_elfsyms_destroy(struct oxa_elfsyms *e)
{
	free(e->syms);
	free(e->names);
	oxa_fdes_destroy(&e->fdes);
	memset(e, 0, sizeof(*e));
}

static unsigned underscores(const char *s)
{
	unsigned n = 0;
	while (s[n] == '_')
		n++;
	return n;
}

/* Whether alias x is the one to show rather than y (perf's order). */
static int better(const struct oxa_elfsyms *e, const struct oxa_elfsym *x,
		  const struct oxa_elfsym *y)
{
	if ((x->bind == STB_WEAK) != (y->bind == STB_WEAK))
		return y->bind == STB_WEAK;
	if ((x->bind == STB_GLOBAL) != (y->bind == STB_GLOBAL))
		return x->bind == STB_GLOBAL;
	const char *a = e->names + x->name, *b = e->names + y->name;
	unsigned ua = underscores(a), ub = underscores(b);
	if (ua != ub)
		return ua < ub;
	size_t la = strlen(a), lb = strlen(b);
	return la != lb ? la > lb : strcmp(a, b) < 0;
}

int oxa_elfsyms_resolve(const struct oxa_elfsyms *e, uint64_t a, const char **name,
			uint64_t *start)
{
	size_t lo = 0, hi = e->n;
	while (lo < hi) { /* first symbol above a */
		size_t mid = (lo + hi) / 2;
		if (e->syms[mid].addr <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	const struct oxa_elfsym *best = NULL, *near = NULL;
	/* Aliases share an address; the best of those that cover a. */
	for (size_t i = lo; i-- > 0 && e->syms[i].addr == e->syms[lo - 1].addr;) {
		const struct oxa_elfsym *s = &e->syms[i];
		if (a - s->addr < s->size && (!best || better(e, s, best)))
			best = s;
		else if (s->size == 0 && (!near || better(e, s, near)))
			near = s;
	}
	if (best) {
		*name = e->names + best->name;
		return OXA_ELF_SYMBOL;
	}
	/* A symbol of unknown size (_init, hand-written assembly) reaches up
	 * to the next function, and no further: an FDE that starts after it
	 * is another function. */
	if (oxa_fdes_find(&e->fdes, a, start) && (!near || *start > near->addr))
		return OXA_ELF_FDE;
	if (near) {
		*name = e->names + near->name;
		return OXA_ELF_NEAR;
	}
	return OXA_ELF_NONE;
}

const char *oxa_elfsyms_find(const struct oxa_elfsyms *e, uint64_t a)
{
	const char *name = NULL;
	uint64_t start;
	int k = oxa_elfsyms_resolve(e, a, &name, &start);
	return k == OXA_ELF_SYMBOL || k == OXA_ELF_NEAR ? name : NULL;
}
