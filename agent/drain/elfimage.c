/* elfimage.c - see elfimage.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "elfimage.h"
#include "ox/io.h"

/* Far above any real binary's section names. */
#define MAX_SHSTR (1u << 20)

int oxa_elfimage_in(const struct oxa_elfimage *im, uint64_t off, uint64_t len)
{
	return off <= im->size && len <= im->size - off;
}

int oxa_elfimage_read(const struct oxa_elfimage *im, void *buf, size_t len, uint64_t off)
{
	if (!oxa_elfimage_in(im, off, len))
		return -EIO;
	if (im->mem) {
		memcpy(buf, im->mem + off, len);
		return 0;
	}
	ssize_t n = ox_pread_full(im->fd, buf, len, off);
	return n < 0 ? (int)n : (size_t)n < len ? -EIO : 0;
}

void oxa_elfimage_close(struct oxa_elfimage *im)
{
	free(im->sh);
	free(im->shstr);
	im->sh = NULL;
	im->shstr = NULL;
	im->nsh = 0;
}

/* The section names, when e_shstrndx names a string table.  A file
 * without them still has its sections by type. */
static int read_names(struct oxa_elfimage *im, unsigned ndx)
{
	if (ndx == SHN_UNDEF || ndx >= im->nsh)
		return 0;
	const Elf64_Shdr *s = &im->sh[ndx];
	if (s->sh_type != SHT_STRTAB || !oxa_elfimage_in(im, s->sh_offset, s->sh_size) ||
	    s->sh_size > MAX_SHSTR)
		return 0;
	int r = oxa_elfimage_load(im, s, MAX_SHSTR, (uint8_t **)&im->shstr);
	if (r == 0)
		im->shstr_size = s->sh_size;
	return r == -ENOMEM ? r : 0;
}

static int open_image(struct oxa_elfimage *im)
{
	Elf64_Ehdr eh;
	if (im->size < sizeof(eh))
		return -ENOEXEC;
	int r = oxa_elfimage_read(im, &eh, sizeof(eh), 0);
	if (r < 0)
		return r;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shnum == 0 ||
	    !oxa_elfimage_in(im, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)))
		return -ENOEXEC;
	im->machine = eh.e_machine;
	im->sh = malloc((size_t)eh.e_shnum * sizeof(Elf64_Shdr));
	if (!im->sh)
		return -ENOMEM;
	im->nsh = eh.e_shnum;
	r = oxa_elfimage_read(im, im->sh, im->nsh * sizeof(Elf64_Shdr), eh.e_shoff);
	if (r == 0)
		r = read_names(im, eh.e_shstrndx);
	if (r < 0)
		oxa_elfimage_close(im);
	return r;
}

int oxa_elfimage_open_fd(struct oxa_elfimage *im, int fd)
{
	memset(im, 0, sizeof(*im));
	im->fd = fd;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return -ENOEXEC;
	im->size = (uint64_t)st.st_size;
	return open_image(im);
}

int oxa_elfimage_open_mem(struct oxa_elfimage *im, const void *mem, size_t size)
{
	memset(im, 0, sizeof(*im));
	im->fd = -1;
	im->mem = mem;
	im->size = size;
	return open_image(im);
}

const Elf64_Shdr *oxa_elfimage_by_type(const struct oxa_elfimage *im, uint32_t type)
{
	for (size_t i = 0; i < im->nsh; i++)
		if (im->sh[i].sh_type == type &&
		    oxa_elfimage_in(im, im->sh[i].sh_offset, im->sh[i].sh_size))
			return &im->sh[i];
	return NULL;
}

const Elf64_Shdr *oxa_elfimage_by_name(const struct oxa_elfimage *im, const char *name)
{
	if (!im->shstr)
		return NULL;
	for (size_t i = 0; i < im->nsh; i++) {
		const Elf64_Shdr *s = &im->sh[i];
		if (s->sh_name < im->shstr_size && !strcmp(im->shstr + s->sh_name, name) &&
		    s->sh_type != SHT_NOBITS && oxa_elfimage_in(im, s->sh_offset, s->sh_size))
			return s;
	}
	return NULL;
}

int oxa_elfimage_load(const struct oxa_elfimage *im, const Elf64_Shdr *s, uint64_t max,
		      uint8_t **out)
{
	*out = NULL;
	if (s->sh_size > max)
		return -EFBIG;
	uint8_t *b = malloc((size_t)s->sh_size + 1);
	if (!b)
		return -ENOMEM;
	int r = oxa_elfimage_read(im, b, (size_t)s->sh_size, s->sh_offset);
	if (r < 0) {
		free(b);
		return r;
	}
	b[s->sh_size] = 0;
	*out = b;
	return 0;
}
