/* buildid.c - see buildid.h. */
#include <elf.h>
#include <stdint.h>
#include <string.h>

#include "buildid.h"
#include "oxp/protocol.h"

/* Whether [a, a + n) lies inside a readable PT_LOAD of the module. */
static int mapped(const struct dl_phdr_info *info, uintptr_t a, size_t n)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_R))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		/* p_filesz: bytes past it are zero-fill, never notes. */
		if (a >= lo && n <= ph->p_filesz && a - lo <= ph->p_filesz - n)
			return 1;
	}
	return 0;
}

static size_t to_hex(const unsigned char *id, size_t n, char *hex, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	if (n == 0 || n > OXP_MAX_BUILD_ID || len < 2 * n + 1)
		return 0;
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[id[i] >> 4];
		hex[2 * i + 1] = digits[id[i] & 15];
	}
	hex[2 * n] = 0;
	return 2 * n;
}

/* The build-id in one PT_NOTE segment [p, p + size). */
static size_t scan_notes(const unsigned char *p, size_t size, char *hex, size_t len)
{
	size_t off = 0;
	while (size - off >= sizeof(ElfW(Nhdr))) {
		ElfW(Nhdr) nh;
		memcpy(&nh, p + off, sizeof(nh));
		size_t name = off + sizeof(nh);
		size_t namesz = ((size_t)nh.n_namesz + 3) & ~(size_t)3;
		size_t descsz = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
		if (nh.n_namesz > size || nh.n_descsz > size || namesz > size - name ||
		    descsz > size - name - namesz)
			return 0;
		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp(p + name, "GNU", 4) == 0)
			return to_hex(p + name + namesz, nh.n_descsz, hex, len);
		off = name + namesz + descsz;
	}
	return 0;
}

uint64_t oxa_buildid_load(const struct dl_phdr_info *info)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD)
			return ph->p_vaddr >= ph->p_offset ? ph->p_vaddr - ph->p_offset : 0;
	}
	return 0;
}

size_t oxa_buildid_read(const struct dl_phdr_info *info, char *hex, size_t len)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE || ph->p_filesz > 65536)
			continue;
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (!mapped(info, a, ph->p_filesz))
			continue;
		size_t n = scan_notes((const unsigned char *)a, ph->p_filesz, hex, len);
		if (n)
			return n;
	}
	return 0;
}
