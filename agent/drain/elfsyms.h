/* elfsyms.h - the function symbols of one ELF file, sorted by address. */
#ifndef OXA_ELFSYMS_H
#define OXA_ELFSYMS_H

#include <stddef.h>
#include <stdint.h>

struct oxa_elfsym {
	uint64_t addr;        /* st_value: link-time address */
	uint64_t size;
	uint32_t name;        /* offset into names */
};

struct oxa_elfsyms {
	struct oxa_elfsym *syms;
	size_t n;
	char *names;
};

/* Read path's function symbols (see symbols.h for which table).  0, or a
 * negative errno; on failure e is empty and safe to destroy. */
int oxa_elfsyms_load(struct oxa_elfsyms *e, const char *path);
/* The same from an open file, without looking for a debug file (for
 * tests and the fuzzer).  fd stays open. */
int oxa_elfsyms_load_fd(struct oxa_elfsyms *e, int fd);
void oxa_elfsyms_destroy(struct oxa_elfsyms *e);
/* The name of the function holding link-time address a, or NULL. */
const char *oxa_elfsyms_find(const struct oxa_elfsyms *e, uint64_t a);

#endif
