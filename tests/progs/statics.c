/*
 * statics.c - static hot functions for the stripped-binary test: hot_x
 * 50 %, hot_y 30 %, hot_z 20 % of the CPU (iteration counts 5:3:2 of the
 * same loop).  The test profiles this build and a copy stripped of .symtab:
 * there the functions have no name, only their .eh_frame entries.
 *
 * One exported function, exported_before, sits before the hot ones in
 * .dynsym with a size that does not cover them: it must not swallow them.
 *
 * statics [-n ROUNDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINL __attribute__((noinline, noipa))

#define SPIN(n, x)                                       \
	for (uint64_t i = 0; i < (n); i++) {             \
		x ^= x << 13;                            \
		x ^= x >> 7;                             \
		x ^= x << 17;                            \
		__asm__ volatile("" : "+r"(x));          \
	}

__attribute__((visibility("default"))) NOINL uint64_t exported_before(uint64_t x)
{
	return x * 3 + 1;
}

static NOINL uint64_t hot_x(uint64_t x) { SPIN(5000, x); return x; }
static NOINL uint64_t hot_y(uint64_t x) { SPIN(3000, x); return x; }
static NOINL uint64_t hot_z(uint64_t x) { SPIN(2000, x); return x; }

int main(int argc, char **argv)
{
	long rounds = argc > 2 ? atol(argv[2]) : 20000;
	uint64_t x = exported_before((uint64_t)argc) | 1;
	for (long r = 0; r < rounds; r++)
		x = hot_z(hot_y(hot_x(x)));
	printf("statics: %llu\n", (unsigned long long)(x & 0xff));
	return 0;
}
