/*
 * statics.c - static hot functions for the stripped-binary test: hot_x
 * 50 %, hot_y 30 %, hot_z 20 % of the CPU (iteration counts 5:3:2 of the
 * same loop).  The test profiles this build and a copy stripped of .symtab:
 * there the functions have no name, only their .eh_frame entries.
 *
 * One exported function, exported_before, is in .dynsym with a size that
 * does not cover the hot ones: it must not swallow them.
 *
 * begin's last instruction is its call of run, which never returns: the
 * return address on every stack is the first byte after begin, which must
 * still be named begin (the call's function), not padding or what follows.
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

static NOINL __attribute__((noreturn)) void run(long rounds, uint64_t x)
{
	for (long r = 0; r < rounds; r++)
		x = hot_z(hot_y(hot_x(x)));
	printf("statics: %llu\n", (unsigned long long)(x & 0xff));
	exit(0);
}

static NOINL void begin(long rounds)
{
	run(rounds, exported_before((uint64_t)rounds) | 1);
}

int main(int argc, char **argv)
{
	begin(argc > 2 ? atol(argv[2]) : 20000);
	return 0;
}
