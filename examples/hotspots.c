/*
 * hotspots.c - a CPU-bound example with a known profile, for the demo and
 * the client's end-to-end tests.
 *
 * Each round calls three leaves that run the same loop with iteration
 * counts 6:3:1, so about 60 % of the CPU time is in leaf_a, 30 % in leaf_b
 * and 10 % in leaf_c:
 *
 *   main -> work -> step_a -> leaf_a      60 %
 *   main -> work -> step_b -> leaf_b      30 %
 *   main -> work -> leaf_c                10 %
 *
 * usage: hotspots [-n ROUNDS] [-f] [-e CODE] [-p]
 *   -n  rounds (default 8000, about a second on a 2020s core)
 *   -f  fork a child that does the same work; wait for it
 *   -e  exit with CODE
 *   -p  print "pid=P" and keep working until killed (signal tests; the
 *       README's fleet example, which needs programs that stay)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Never inlined or cloned, so each function is its own frame and symbol. */
#define NOINL __attribute__((noinline, noipa))

#define SPIN(n, x)                                      \
	for (uint64_t i = 0; i < (n); i++) {            \
		x ^= x << 13;                           \
		x ^= x >> 7;                            \
		x ^= x << 17;                           \
		__asm__ volatile("" : "+r"(x));         \
	}

NOINL uint64_t leaf_a(uint64_t x) { SPIN(60000, x); return x; }
NOINL uint64_t leaf_b(uint64_t x) { SPIN(30000, x); return x; }
NOINL uint64_t leaf_c(uint64_t x) { SPIN(10000, x); return x; }

NOINL uint64_t step_a(uint64_t x) { return leaf_a(x) + 1; }
NOINL uint64_t step_b(uint64_t x) { return leaf_b(x) + 1; }

static NOINL uint64_t work(long rounds, uint64_t x)
{
	for (long r = 0; rounds <= 0 || r < rounds; r++)
		x = leaf_c(step_b(step_a(x)));
	return x;
}

int main(int argc, char **argv)
{
	long rounds = 8000;
	int do_fork = 0, code = 0, forever = 0, opt;
	while ((opt = getopt(argc, argv, "n:fe:p")) != -1) {
		switch (opt) {
		case 'n': rounds = atol(optarg); break;
		case 'f': do_fork = 1; break;
		case 'e': code = atoi(optarg); break;
		case 'p': forever = 1; break;
		default:
			fprintf(stderr, "usage: hotspots [-n ROUNDS] [-f] [-e CODE] [-p]\n");
			return 2;
		}
	}
	if (forever) {
		printf("pid=%d\n", (int)getpid());
		fflush(stdout);
		rounds = 0;
	}
	pid_t child = do_fork ? fork() : 0;
	uint64_t x = work(rounds, (uint64_t)getpid() | 1);
	if (child > 0)
		waitpid(child, NULL, 0);
	/* Print the result so the work cannot be optimised away. */
	printf("hotspots: %s done (%llu)\n", child == 0 && do_fork ? "child" : "parent",
	       (unsigned long long)(x & 0xff));
	return code;
}
