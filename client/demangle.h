/*
 * demangle.h - symbol names as people read them: C++ (Itanium ABI) and
 * Rust (legacy and v0) names demangled by libiberty, the demangler of GNU
 * binutils and GDB, in oxprofctl, never in the profiled process.
 *
 * Demangled names keep their parameter lists, as perf shows them
 * ("ns::Grid<int>::step(int) const"); they can be long, and callers that
 * truncate (the table) or split on ';' (folded stacks) take care.
 */
#ifndef OXC_DEMANGLE_H
#define OXC_DEMANGLE_H

/* The demangled form of name, malloc'ed (caller frees), or NULL when name
 * is not a mangled C++ or Rust symbol (or will not demangle): show it as
 * it is. */
char *oxc_demangle(const char *name);

/* A folded stack "a;b;c" with each frame demangled, and any ';' a
 * demangled name contains replaced, so the frames stay apart.  Returns
 * NULL when no frame changed; else malloc'ed (caller frees). */
char *oxc_demangle_folded(const char *stack);

#endif
