/* pltlib.c - the shared library pltcall.c calls through its PLT. */
#include <stdint.h>

uint64_t plt_foo(uint64_t x) { return x * 2654435761u + 1; }
uint64_t plt_bar(uint64_t x) { return x ^ (x >> 7); }
