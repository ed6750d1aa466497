/*
 * elfsyms.h - what names the functions of one ELF module: its function
 * symbols sorted by address, NAME@plt for its PLT stubs, and (read on
 * first need) the extents of every function from .eh_frame, which name
 * the functions no symbol covers MODULE+0xSTART.  Drain thread only.
 */
#ifndef OXA_ELFSYMS_H
#define OXA_ELFSYMS_H

#include <stddef.h>
#include <stdint.h>

#include "ehframe.h"

struct oxa_elfsym {
	uint64_t addr;        /* st_value: link-time address */
	uint64_t size;
	uint32_t name;        /* offset into names */
	uint8_t bind;         /* STB_*: which of several aliases is shown */
};

struct oxa_elfsyms {
	struct oxa_elfsym *syms;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
	struct oxa_fdes fdes;
	int fdes_read;        /* oxa_elfsyms_load_fdes* was called */
};

/* Read path's function symbols (.symtab when present, else the .symtab of
 * its build-id debug file, else .dynsym) and PLT stubs.  0, or a negative
 * errno; on failure e is empty and safe to destroy. */
int oxa_elfsyms_load(struct oxa_elfsyms *e, const char *path);
/* The same from an open file, without looking for a debug file (for
 * tests and the fuzzer).  fd stays open. */
int oxa_elfsyms_load_fd(struct oxa_elfsyms *e, int fd);
/* The same from an ELF image in memory (the vDSO), FDEs included. */
int oxa_elfsyms_load_mem(struct oxa_elfsyms *e, const void *mem, size_t size);
/* Read the .eh_frame extents of the module e was loaded from (once: later
 * calls return at once).  0 or a negative errno; e's symbols stay either
 * way, and without the extents unnamed code stays unnamed. */
int oxa_elfsyms_load_fdes(struct oxa_elfsyms *e, const char *path);
int oxa_elfsyms_load_fdes_fd(struct oxa_elfsyms *e, int fd);
void oxa_elfsyms_destroy(struct oxa_elfsyms *e);

/* Add a symbol named name[0..len) + suffix (suffix may be NULL); e is then
 * unsorted until oxa_elfsyms_sort.  0 or -ENOMEM. */
int oxa_elfsyms_add(struct oxa_elfsyms *e, uint64_t addr, uint64_t size, int bind,
		    const char *name, size_t len, const char *suffix);
void oxa_elfsyms_sort(struct oxa_elfsyms *e);

enum {
	OXA_ELF_NONE,         /* nothing covers a */
	OXA_ELF_SYMBOL,       /* a symbol (or PLT stub) whose size covers a */
	OXA_ELF_NEAR,         /* only a symbol of unknown size before a */
	OXA_ELF_FDE,          /* an unnamed function starting at *start */
};
/* What covers link-time address a: one of the above, with *name set for
 * SYMBOL and NEAR and *start for FDE.  Of several aliases the one perf
 * shows (strong before weak, global before local, fewer leading
 * underscores, then the longer name).  An FDE starting after a symbol of
 * unknown size wins over it. */
int oxa_elfsyms_resolve(const struct oxa_elfsyms *e, uint64_t a, const char **name,
			uint64_t *start);
/* The name of the function holding link-time address a, or NULL. */
const char *oxa_elfsyms_find(const struct oxa_elfsyms *e, uint64_t a);

#endif
