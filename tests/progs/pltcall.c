/*
 * pltcall.c - calls two functions of a shared library (pltlib.c) in a tight
 * loop, so a good share of the samples land in the PLT stubs: plt_foo
 * through .plt (or .plt.sec when linked for IBT), and plt_bar through
 * .plt.got (its address is taken as well, so it has a GOT entry the stub
 * jumps through).
 *
 * pltcall [-n ROUNDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

uint64_t plt_foo(uint64_t x);
uint64_t plt_bar(uint64_t x);

uint64_t (*volatile bar_ptr)(uint64_t);

int main(int argc, char **argv)
{
	long rounds = argc > 2 ? atol(argv[2]) : 100000000;
	uint64_t x = (uint64_t)argc;
	bar_ptr = plt_bar; /* a GOT entry for plt_bar: its stub goes to .plt.got */
	for (long r = 0; r < rounds; r++)
		x = plt_bar(plt_foo(x));
	printf("pltcall: %llu %d\n", (unsigned long long)(x & 0xff), bar_ptr != NULL);
	return 0;
}
