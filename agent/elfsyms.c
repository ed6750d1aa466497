/*
 * elfsyms.c - read an ELF file's function symbols.  Every offset and count
 * in the file is checked against its size: a corrupt or hostile file gives
 * no symbols, never a crash inside the host process.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfsyms.h"

struct image {
	const uint8_t *p;
	size_t size;
	const Elf64_Shdr *sh;
	size_t nsh;
};

static int in_file(const struct image *im, uint64_t off, uint64_t len)
{
	return off <= im->size && len <= im->size - off;
}

static int open_image(struct image *im, const char *path)
{
	memset(im, 0, sizeof(*im));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		close(fd);
		return -ENOEXEC;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	im->p = p;
	im->size = (size_t)st.st_size;
	const Elf64_Ehdr *eh = p;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    !in_file(im, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr))) {
		munmap(p, im->size);
		return -ENOEXEC;
	}
	im->sh = (const Elf64_Shdr *)(im->p + eh->e_shoff);
	im->nsh = eh->e_shnum;
	return 0;
}

static const Elf64_Shdr *find_section(const struct image *im, uint32_t type)
{
	for (size_t i = 0; i < im->nsh; i++)
		if (im->sh[i].sh_type == type && in_file(im, im->sh[i].sh_offset, im->sh[i].sh_size))
			return &im->sh[i];
	return NULL;
}

static int by_addr(const void *a, const void *b)
{
	const struct oxa_elfsym *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int is_func(const Elf64_Sym *s)
{
	int t = ELF64_ST_TYPE(s->st_info);
	return (t == STT_FUNC || t == STT_GNU_IFUNC) && s->st_value && s->st_shndx != SHN_UNDEF;
}

/* Copy the function symbols of table symtab (with its string table). */
static int copy_syms(struct oxa_elfsyms *e, const struct image *im, const Elf64_Shdr *symtab)
{
	if (symtab->sh_link >= im->nsh || symtab->sh_entsize != sizeof(Elf64_Sym))
		return -ENOEXEC;
	const Elf64_Shdr *strsec = &im->sh[symtab->sh_link];
	if (!in_file(im, strsec->sh_offset, strsec->sh_size))
		return -ENOEXEC;
	const Elf64_Sym *sym = (const Elf64_Sym *)(im->p + symtab->sh_offset);
	const char *str = (const char *)im->p + strsec->sh_offset;
	size_t nsym = symtab->sh_size / sizeof(Elf64_Sym), n = 0, names = 0;
	for (size_t i = 0; i < nsym; i++)
		if (is_func(&sym[i]) && sym[i].st_name < strsec->sh_size) {
			n++;
			names += strnlen(str + sym[i].st_name, strsec->sh_size - sym[i].st_name) + 1;
		}
	e->syms = malloc((n ? n : 1) * sizeof(*e->syms));
	e->names = malloc(names ? names : 1);
	if (!e->syms || !e->names)
		return -ENOMEM;
	size_t off = 0;
	for (size_t i = 0; i < nsym; i++) {
		if (!is_func(&sym[i]) || sym[i].st_name >= strsec->sh_size)
			continue;
		const char *nm = str + sym[i].st_name;
		size_t len = strnlen(nm, strsec->sh_size - sym[i].st_name);
		const char *at = memchr(nm, '@', len); /* "memcpy@GLIBC_2.14" */
		if (at && at > nm)
			len = (size_t)(at - nm);
		memcpy(e->names + off, nm, len);
		e->names[off + len] = 0;
		e->syms[e->n++] = (struct oxa_elfsym){ sym[i].st_value, sym[i].st_size, (uint32_t)off };
		off += len + 1;
	}
	qsort(e->syms, e->n, sizeof(*e->syms), by_addr);
	return 0;
}

/* "/usr/lib/debug/.build-id/ab/cdef....debug" from the build-id note. */
static int debug_path(const struct image *im, char *out, size_t len)
{
	for (size_t i = 0; i < im->nsh; i++) {
		const Elf64_Shdr *s = &im->sh[i];
		if (s->sh_type != SHT_NOTE || !in_file(im, s->sh_offset, s->sh_size) ||
		    s->sh_size < sizeof(Elf64_Nhdr) + 4)
			continue;
		const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(im->p + s->sh_offset);
		size_t desc = sizeof(*nh) + ((nh->n_namesz + 3) & ~3u);
		if (nh->n_type != NT_GNU_BUILD_ID || nh->n_descsz < 2 || nh->n_descsz > 64 ||
		    desc + nh->n_descsz > s->sh_size)
			continue;
		const uint8_t *id = im->p + s->sh_offset + desc;
		int n = snprintf(out, len, "/usr/lib/debug/.build-id/%02x/", id[0]);
		for (uint32_t k = 1; k < nh->n_descsz && n > 0 && (size_t)n + 3 < len; k++)
			n += snprintf(out + n, len - (size_t)n, "%02x", id[k]);
		return n > 0 && (size_t)n + 7 < len && snprintf(out + n, len - (size_t)n, ".debug") > 0 ? 0 : -ENOENT;
	}
	return -ENOENT;
}

int oxa_elfsyms_load(struct oxa_elfsyms *e, const char *path)
{
	memset(e, 0, sizeof(*e));
	struct image im, dbg;
	int r = open_image(&im, path);
	if (r < 0)
		return r;
	const Elf64_Shdr *tab = find_section(&im, SHT_SYMTAB);
	char dpath[256];
	if (!tab && debug_path(&im, dpath, sizeof(dpath)) == 0 && open_image(&dbg, dpath) == 0) {
		const Elf64_Shdr *dtab = find_section(&dbg, SHT_SYMTAB);
		r = dtab ? copy_syms(e, &dbg, dtab) : -ENOENT;
		munmap((void *)dbg.p, dbg.size);
		if (r == 0) {
			munmap((void *)im.p, im.size);
			return 0;
		}
		oxa_elfsyms_destroy(e);
	}
	if (!tab)
		tab = find_section(&im, SHT_DYNSYM);
	r = tab ? copy_syms(e, &im, tab) : -ENOENT;
	munmap((void *)im.p, im.size);
	if (r < 0)
		oxa_elfsyms_destroy(e);
	return r;
}

void oxa_elfsyms_destroy(struct oxa_elfsyms *e)
{
	free(e->syms);
	free(e->names);
	memset(e, 0, sizeof(*e));
}

const char *oxa_elfsyms_find(const struct oxa_elfsyms *e, uint64_t a)
{
	size_t lo = 0, hi = e->n;
	while (lo < hi) { /* first symbol above a */
		size_t mid = (lo + hi) / 2;
		if (e->syms[mid].addr <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	/* Aliases share an address; any of them that covers a will do. */
	for (size_t i = lo; i-- > 0 && e->syms[i].addr == e->syms[lo - 1].addr;)
		if (a < e->syms[i].addr + e->syms[i].size)
			return e->names + e->syms[i].name;
	const struct oxa_elfsym *s = &e->syms[lo - 1];
	return s->size == 0 ? e->names + s->name : NULL;
}
