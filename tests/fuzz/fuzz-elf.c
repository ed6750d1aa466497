/*
 * fuzz-elf.c - the agent's ELF symbol reader (agent/drain/elfsyms.c) on arbitrary
 * files: it must give symbols or an error, never read outside what it
 * read, and every name it returns must be a string it owns.
 *
 * The same bytes also go through the function extents reader (.eh_frame)
 * and the in-memory reader the vDSO uses.
 *
 * Input: first byte even - the rest is the file.  Odd - the rest is laid
 * over a small valid ELF (section headers, .symtab, .strtab, .dynsym) at
 * the offset the next two bytes give, so the fuzzer starts deep in the
 * format without seeds.
 */
#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elfsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FILE 65536

/* The base file; returns its size. */
static size_t base_elf(uint8_t *buf)
{
	static const char str[] = "\0foo\0bar@GLIBC_2.2.5\0baz\0";
	size_t stroff = sizeof(Elf64_Ehdr), symoff = stroff + sizeof(str) + 3;
	size_t shoff = symoff + 4 * sizeof(Elf64_Sym), end = shoff + 4 * sizeof(Elf64_Shdr);
	memset(buf, 0, end);
	Elf64_Ehdr eh = { .e_type = ET_DYN, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			  .e_shoff = shoff, .e_ehsize = sizeof(Elf64_Ehdr),
			  .e_shentsize = sizeof(Elf64_Shdr), .e_shnum = 4 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	memcpy(buf, &eh, sizeof(eh));
	memcpy(buf + stroff, str, sizeof(str));
	Elf64_Sym sym[4] = {
		{ 0 },
		{ .st_name = 1, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC), .st_shndx = 1,
		  .st_value = 0x1000, .st_size = 0x10 },
		{ .st_name = 5, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_GNU_IFUNC), .st_shndx = 1,
		  .st_value = 0x1000, .st_size = 0x20 },
		{ .st_name = 21, .st_info = ELF64_ST_INFO(STB_LOCAL, STT_FUNC), .st_shndx = 1,
		  .st_value = 0x3000 },
	};
	memcpy(buf + symoff, sym, sizeof(sym));
	Elf64_Shdr sh[4] = {
		{ 0 },
		{ .sh_type = SHT_SYMTAB, .sh_offset = symoff, .sh_size = sizeof(sym), .sh_link = 2,
		  .sh_entsize = sizeof(Elf64_Sym) },
		{ .sh_type = SHT_STRTAB, .sh_offset = stroff, .sh_size = sizeof(str) },
		{ .sh_type = SHT_DYNSYM, .sh_offset = symoff, .sh_size = sizeof(sym), .sh_link = 2,
		  .sh_entsize = sizeof(Elf64_Sym) },
	};
	memcpy(buf + shoff, sh, sizeof(sh));
	return end;
}

/* Every name resolved is a string e owns. */
static void check(const struct oxa_elfsyms *e)
{
	const char *name;
	uint64_t start;
	for (size_t i = 0; i < e->n; i++) {
		name = oxa_elfsyms_find(e, e->syms[i].addr);
		if (name)
			(void)strlen(name);
	}
	for (size_t i = 0; i < e->fdes.n; i++)
		(void)oxa_elfsyms_resolve(e, e->fdes.base + e->fdes.v[i].start, &name, &start);
	(void)oxa_elfsyms_find(e, 0);
	(void)oxa_elfsyms_find(e, UINT64_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static uint8_t file[MAX_FILE];
	if (fd < 0 && (fd = memfd_create("fuzz-elf", MFD_CLOEXEC)) < 0)
		return 0;
	if (size < 1)
		return 0;
	const uint8_t *p = data + 1;
	size_t n = size - 1;
	if (data[0] & 1) {
		size_t len = base_elf(file), off = 0;
		if (n >= 2) {
			off = ((size_t)p[0] | (size_t)p[1] << 8) % len;
			p += 2;
			n -= 2;
		}
		if (n > MAX_FILE - off)
			n = MAX_FILE - off;
		memcpy(file + off, p, n);
		p = file;
		n = off + n > len ? off + n : len;
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, p, n, 0) != (ssize_t)n)
		return 0;
	struct oxa_elfsyms e;
	(void)oxa_elfsyms_load_fd(&e, fd);
	(void)oxa_elfsyms_load_fdes_fd(&e, fd);
	check(&e);
	oxa_elfsyms_destroy(&e);
	(void)oxa_elfsyms_load_mem(&e, p, n);
	check(&e);
	oxa_elfsyms_destroy(&e);
	return 0;
}
