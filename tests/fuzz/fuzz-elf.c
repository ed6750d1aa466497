/*
 * fuzz-elf.c - the agent's ELF symbol reader (agent/elfsyms.c) on arbitrary
 * files: it must give symbols or an error, never read outside what it
 * read, and every name it returns must be a string it owns.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elfsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	if (fd < 0 && (fd = memfd_create("fuzz-elf", MFD_CLOEXEC)) < 0)
		return 0;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	struct oxa_elfsyms e;
	if (oxa_elfsyms_load_fd(&e, fd) == 0) {
		for (size_t i = 0; i < e.n; i++) {
			const char *n = oxa_elfsyms_find(&e, e.syms[i].addr);
			if (n)
				(void)strlen(n);
		}
		(void)oxa_elfsyms_find(&e, 0);
		(void)oxa_elfsyms_find(&e, UINT64_MAX);
	}
	oxa_elfsyms_destroy(&e);
	return 0;
}
