/*
 * symbols.h - pc -> function name, module path and offset, off the signal
 * path (drain thread only).
 *
 * Modules come from dl_iterate_phdr and are refreshed when the loader says
 * objects were added or removed.  A module's function symbols are read once
 * from its ELF file: .symtab when present (so static functions have names
 * too), else the .symtab of its build-id debug file, else .dynsym; its PLT
 * stubs are NAME@plt.  Code no symbol covers is named by the function that
 * holds it in .eh_frame, MODULE+0xSTART (its file name and link-time start,
 * as `nm` of the unstripped build prints it), so one function's samples
 * stay one row; only code no FDE covers is "[unknown]".  The vDSO ("[vdso]")
 * is read from its image in memory.  pcs in no module are looked up in
 * /tmp/perf-PID.map, which JIT runtimes write.
 */
#ifndef OXA_SYMBOLS_H
#define OXA_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

#include "strtab.h"

struct oxa_symbols;

/* Names go into strs, which must outlive the symbols.  0 or -ENOMEM. */
int oxa_symbols_new(struct oxa_symbols **out, struct oxa_strtab *strs);
void oxa_symbols_free(struct oxa_symbols *s);
/* Resolve pc (already adjusted into the calling instruction for return
 * addresses).  Always succeeds unless out of memory: unknown code gets the
 * function "[unknown]" and module "[anon]". */
/* Replace the JIT symbols with those of a perf map's text buf[0..len)
 * (what /tmp/perf-PID.map holds; one "START SIZE name" per line, hex).
 * Malformed lines are skipped.  0 or -ENOMEM. */
int oxa_symbols_parse_jit(struct oxa_symbols *s, const char *buf, size_t len);
/* The largest perf map read. */
#define OXA_JIT_MAP_MAX (64 << 20)

int oxa_symbols_lookup(struct oxa_symbols *s, uintptr_t pc, uint32_t *func,
		       uint32_t *module, uint64_t *offset);
/* Whether the module whose path is string module was seen loaded; if so,
 * *bid is the string id + 1 of its GNU build-id in lower-case hex (0: it
 * has none) and *load the link-time address of its file offset 0. */
int oxa_symbols_module(const struct oxa_symbols *s, uint32_t module, uint32_t *bid,
		       uint64_t *load);

#endif
