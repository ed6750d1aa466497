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
#include <sys/stat.h>
#include <unistd.h>

#include "elfsyms.h"
#include "host/fds.h"
#include "ox/io.h"

/* Bounds on what one file may make us allocate: far above any real
 * binary's tables, far below what would hurt the host. */
#define MAX_STRTAB (256u << 20)
#define MAX_NOTE 4096
#define SYM_CHUNK 1024

/*
 * The file is read with pread into our own (aligned) buffers, never
 * mapped: a file truncated or rewritten under us then costs a short read
 * and an error, not a SIGBUS in the host, and an odd e_shoff or sh_offset
 * costs nothing either.
 */
struct image {
	int fd;
	uint64_t size;
	Elf64_Shdr *sh;       /* section headers, malloc'ed */
	size_t nsh;
};

static int in_file(const struct image *im, uint64_t off, uint64_t len)
{
	return off <= im->size && len <= im->size - off;
}

/* Exactly len bytes at off, or -EIO (the file shrank) / -errno. */
static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = ox_pread_full(fd, buf, len, off);
	return n < 0 ? (int)n : (size_t)n < len ? -EIO : 0;
}

static void close_image(struct image *im)
{
	free(im->sh);
	im->sh = NULL;
}

static int open_image(struct image *im, int fd)
{
	memset(im, 0, sizeof(*im));
	im->fd = fd;
	struct stat st;
	Elf64_Ehdr eh;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(eh))
		return -ENOEXEC;
	im->size = (uint64_t)st.st_size;
	int r = read_at(fd, &eh, sizeof(eh), 0);
	if (r < 0)
		return r;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    !in_file(im, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)))
		return -ENOEXEC;
	im->sh = malloc((size_t)eh.e_shnum * sizeof(Elf64_Shdr));
	if (!im->sh)
		return -ENOMEM;
	im->nsh = eh.e_shnum;
	if ((r = read_at(fd, im->sh, im->nsh * sizeof(Elf64_Shdr), eh.e_shoff)) < 0)
		close_image(im);
	return r;
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

/* One pass over the symbols, SYM_CHUNK at a time: count (e->syms NULL) or
 * copy into room for cap_n symbols and cap_names bytes of names.  names:
 * bytes the kept names take.  Drain thread only (one static buffer). */
static int walk_syms(struct oxa_elfsyms *e, const struct image *im, const Elf64_Shdr *symtab,
		     const char *str, uint64_t strsize, size_t cap_n, size_t cap_names,
		     size_t *n, size_t *names)
{
	static Elf64_Sym buf[SYM_CHUNK]; /* drain thread only */
	size_t nsym = symtab->sh_size / sizeof(Elf64_Sym);
	*n = *names = 0;
	for (size_t i = 0; i < nsym; i += SYM_CHUNK) {
		size_t k = nsym - i < SYM_CHUNK ? nsym - i : SYM_CHUNK;
		int r = read_at(im->fd, buf, k * sizeof(Elf64_Sym),
				symtab->sh_offset + i * sizeof(Elf64_Sym));
		if (r < 0)
			return r;
		for (size_t j = 0; j < k; j++) {
			if (!is_func(&buf[j], strsize))
				continue;
			size_t len = name_len(str, strsize, buf[j].st_name);
			if (e->syms && (*n >= cap_n || len + 1 > cap_names - *names))
				return -EIO; /* the file changed since the count */
			if (e->syms) {
				memcpy(e->names + *names, str + buf[j].st_name, len);
				e->names[*names + len] = 0;
				e->syms[*n] = (struct oxa_elfsym){ buf[j].st_value, buf[j].st_size,
								   (uint32_t)*names };
			}
			(*n)++;
			*names += len + 1;
		}
	}
	return 0;
}

/* Copy the function symbols of table symtab (with its string table).
 * The file may change between the two passes: the second never goes past
 * what the first counted. */
static int copy_syms(struct oxa_elfsyms *e, const struct image *im, const Elf64_Shdr *symtab)
{
	if (symtab->sh_link >= im->nsh || symtab->sh_entsize != sizeof(Elf64_Sym))
		return -ENOEXEC;
	const Elf64_Shdr *strsec = &im->sh[symtab->sh_link];
	if (!in_file(im, strsec->sh_offset, strsec->sh_size) || strsec->sh_size > MAX_STRTAB)
		return -ENOEXEC;
	uint64_t strsize = strsec->sh_size;
	char *str = malloc(strsize + 1);
	if (!str)
		return -ENOMEM;
	str[strsize] = 0;
	size_t n, names, n2, names2;
	int r = read_at(im->fd, str, strsize, strsec->sh_offset);
	if (r == 0)
		r = walk_syms(e, im, symtab, str, strsize, 0, 0, &n, &names);
	if (r == 0 && (n > UINT32_MAX || names > UINT32_MAX))
		r = -EFBIG;
	if (r == 0) {
		e->syms = malloc((n ? n : 1) * sizeof(*e->syms));
		e->names = malloc(names ? names : 1);
		r = e->syms && e->names ? 0 : -ENOMEM;
	}
	if (r == 0)
		r = walk_syms(e, im, symtab, str, strsize, n, names, &n2, &names2);
	if (r == 0 && (n2 != n || names2 != names))
		r = -EIO; /* the file changed under us */
	free(str);
	if (r < 0)
		return r;
	e->n = n;
	qsort(e->syms, e->n, sizeof(*e->syms), by_addr);
	return 0;
}

/* "/usr/lib/debug/.build-id/ab/cdef....debug" from the build-id note. */
static int debug_path(const struct image *im, char *out, size_t len)
{
	/* uint32_t for the alignment of Elf64_Nhdr. */
	static uint32_t note[MAX_NOTE / 4];
	for (size_t i = 0; i < im->nsh; i++) {
		const Elf64_Shdr *s = &im->sh[i];
		if (s->sh_type != SHT_NOTE || !in_file(im, s->sh_offset, s->sh_size) ||
		    s->sh_size < sizeof(Elf64_Nhdr) + 4 || s->sh_size > MAX_NOTE ||
		    read_at(im->fd, note, s->sh_size, s->sh_offset) < 0)
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
static int load_debug(struct oxa_elfsyms *e, const struct image *im)
{
	char dpath[256];
	struct image dbg;
	struct oxa_fdid id;
	if (debug_path(im, dpath, sizeof(dpath)) < 0)
		return -ENOENT;
	int fd = open_file(dpath, &id);
	if (fd < 0)
		return fd;
	int r = open_image(&dbg, fd);
	if (r == 0) {
		const Elf64_Shdr *dtab = find_section(&dbg, SHT_SYMTAB);
		r = dtab ? copy_syms(e, &dbg, dtab) : -ENOENT;
		close_image(&dbg);
	}
	oxa_fd_close(fd, &id);
	if (r < 0)
		oxa_elfsyms_destroy(e);
	return r;
}

static int load(struct oxa_elfsyms *e, int fd, int follow_debug)
{
	memset(e, 0, sizeof(*e));
	struct image im;
	int r = open_image(&im, fd);
	if (r < 0)
		return r;
	const Elf64_Shdr *tab = find_section(&im, SHT_SYMTAB);
	if (!tab && follow_debug && load_debug(e, &im) == 0) {
		close_image(&im);
		return 0;
	}
	if (!tab)
		tab = find_section(&im, SHT_DYNSYM);
	r = tab ? copy_syms(e, &im, tab) : -ENOENT;
	close_image(&im);
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
