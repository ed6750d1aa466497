/*
 * ehframe.h - the start and end of every function of a module, from its
 * .eh_frame (each FDE gives one function's address range), for naming
 * functions that have no symbol.  Drain thread only.
 */
#ifndef OXA_EHFRAME_H
#define OXA_EHFRAME_H

#include <stddef.h>
#include <stdint.h>

struct oxa_elfimage;

/* 8 bytes a function: its start relative to the table's base. */
struct oxa_fde {
	uint32_t start, size;
};

/* Sorted by start.  Empty (all zero) is a valid table. */
struct oxa_fdes {
	struct oxa_fde *v;
	size_t n;
	uint64_t base;        /* link-time address start offsets count from */
};

/* At most 8 MiB kept per module: far above any real one (PostgreSQL 15's
 * postgres has 17 000 functions), far below what would hurt the host. */
#define OXA_FDES_MAX (1u << 20)

/* Read the FDEs of im's .eh_frame into f.  0, -ENOENT (no .eh_frame) or
 * -ENOMEM; on failure f is empty.  A malformed record or a read error ends
 * the walk (what was read before is kept); FDEs in an encoding we do not
 * read are skipped. */
int oxa_ehframe_read(struct oxa_fdes *f, const struct oxa_elfimage *im);
void oxa_fdes_destroy(struct oxa_fdes *f);
/* The FDE covering link-time address a: 1 and its start, or 0. */
int oxa_fdes_find(const struct oxa_fdes *f, uint64_t a, uint64_t *start);

#endif
