/*
 * plt.h - names for the stubs of a module's procedure linkage table
 * (.plt, .plt.sec, .plt.got): NAME@plt, as perf and objdump show them,
 * from the relocations that fill the GOT slot each stub jumps through.
 * x86-64 only (the stub layouts are the architecture's); elsewhere the
 * stubs stay unnamed.  Drain thread only.
 */
#ifndef OXA_PLT_H
#define OXA_PLT_H

struct oxa_elfsyms;
struct oxa_elfimage;

/* Add a NAME@plt symbol to e for every stub of im that can be named.  e
 * must hold im's other symbols, sorted (an IRELATIVE slot is named after
 * the function at its resolver's address); e is left unsorted.  0 (also
 * when there is no PLT), -ENOMEM or -EIO. */
int oxa_plt_read(struct oxa_elfsyms *e, const struct oxa_elfimage *im);

#endif
