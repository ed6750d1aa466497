/*
 * elfimage.h - one ELF file (or an ELF image in memory, the vDSO) opened
 * for reading its sections, drain thread only.  Private to the symbol
 * readers (elfsyms.c, ehframe.c, plt.c).
 *
 * Every offset and count taken from the image is checked against its
 * size before use: a corrupt or hostile file gives an error, never a read
 * outside what was read.  Files are read with pread into our own buffers,
 * never mapped: a file truncated under us costs a short read, not a
 * SIGBUS in the host.
 */
#ifndef OXA_ELFIMAGE_H
#define OXA_ELFIMAGE_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>

struct oxa_elfimage {
	int fd;               /* -1 when mem is set */
	const uint8_t *mem;   /* an image in our own memory, size bytes */
	uint64_t size;
	uint16_t machine;     /* e_machine */
	Elf64_Shdr *sh;       /* section headers, malloc'ed */
	size_t nsh;
	char *shstr;          /* section names, malloc'ed, NUL-terminated */
	uint64_t shstr_size;
};

/* Open the file fd (which stays the caller's) or the image mem[0..size).
 * 0, -ENOEXEC (not a 64-bit ELF with section headers), -ENOMEM or -errno.
 * On success release with oxa_elfimage_close. */
int oxa_elfimage_open_fd(struct oxa_elfimage *im, int fd);
int oxa_elfimage_open_mem(struct oxa_elfimage *im, const void *mem, size_t size);
void oxa_elfimage_close(struct oxa_elfimage *im);

/* Whether [off, off + len) lies in the image. */
int oxa_elfimage_in(const struct oxa_elfimage *im, uint64_t off, uint64_t len);
/* Exactly len bytes at off: 0, -EIO (outside, or the file shrank) or -errno. */
int oxa_elfimage_read(const struct oxa_elfimage *im, void *buf, size_t len, uint64_t off);
/* The first section of type whose contents lie in the image, or NULL. */
const Elf64_Shdr *oxa_elfimage_by_type(const struct oxa_elfimage *im, uint32_t type);
/* The section called name whose contents lie in the image (SHT_NOBITS
 * never matches), or NULL. */
const Elf64_Shdr *oxa_elfimage_by_name(const struct oxa_elfimage *im, const char *name);
/* A section's contents in a new buffer (one spare NUL byte after them) of
 * at most max bytes: 0, -EFBIG, -ENOMEM or -EIO.  The caller frees *out. */
int oxa_elfimage_load(const struct oxa_elfimage *im, const Elf64_Shdr *s, uint64_t max,
		      uint8_t **out);

#endif
