/*
 * flamegen.c - a synthetic profile of N unique stacks, written as the
 * flame graph page by the same code as `oxprofctl query --format html`,
 * for bench/flame.sh.
 *
 * usage: flamegen N OUT.html [SEED]
 *
 * Stacks are random walks down a skewed call tree, as real profiles are:
 * a few hot paths shared by many stacks, a long tail of rare ones, depth
 * 4..48, names from a pool of 20000 functions (C++-length names).  Sample
 * counts are skewed too.  Prints one line: stacks, the CPU time to merge
 * the tree and write the page, and the file's size.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flame.h"
#include "report.h"

#define POOL 20000
#define MAX_DEPTH 48

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double unit(void) { return (double)(rng() >> 11) / 9007199254740992.0; }

static uint64_t mix(uint64_t a, uint64_t b)
{
	uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 31);
}

/* CPU time: the machine running the benchmark may be busy. */
static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* One random stack into buf; returns its hash (to tell unique ones). */
static uint64_t make_stack(char *buf, size_t len)
{
	int depth = 4 + (int)(unit() * unit() * (MAX_DEPTH - 4));
	uint64_t node = 1;
	size_t n = (size_t)snprintf(buf, len, "main");
	for (int d = 1; d < depth && n + 100 < len; d++) {
		/* Child k of this node, k skewed towards 0: hot paths repeat. */
		uint64_t k = (uint64_t)(unit() * unit() * unit() * 12);
		node = mix(node, k + 1);
		unsigned fn = (unsigned)(node % POOL);
		n += (size_t)snprintf(buf + n, len - n, ";ns%u::Component%u::method_%u(int, std::string const&)",
				      fn % 37, fn % 211, fn);
	}
	return node ^ (uint64_t)depth << 56;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: flamegen N OUT.html [SEED]\n");
		return 2;
	}
	long want = atol(argv[1]);
	rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) | 1 : 88172645463325252ull;
	size_t cap = (size_t)want * 2 + 1024, mask = 1;
	while (mask < cap)
		mask <<= 1;
	uint64_t *seen = calloc(mask, sizeof(*seen));
	if (!seen)
		return 1;
	mask--;
	struct oxc_report stacks;
	oxc_report_init(&stacks, 5 /* OXP_BY_STACK */, 0);
	char buf[MAX_DEPTH * 100];
	long tries = 0;
	while ((long)stacks.nrows < want && tries++ < want * 50) {
		uint64_t h = make_stack(buf, sizeof(buf)) | 1;
		size_t i = h & mask;
		while (seen[i] && seen[i] != h)
			i = (i + 1) & mask;
		if (seen[i])
			continue;
		seen[i] = h;
		uint64_t count = 1 + (uint64_t)(unit() * unit() * unit() * 200);
		oxc_report_add(&stacks, buf, strlen(buf), "", 0, 0, 0, count, count);
		stacks.total += count;
	}
	free(seen);
	/* Two walks can spell the same names: count stacks as the page sees them. */
	oxc_report_merge(&stacks);
	stacks.nprocs = 1;
	struct oxc_flame page = { .title = "synthetic profile", .stacks = &stacks };
	char n[32];
	snprintf(n, sizeof(n), "%u", (unsigned)stacks.nrows);
	oxc_flame_fact(&page, "Unique stacks", "%s", n);
	oxc_flame_fact(&page, "Samples", "%llu", (unsigned long long)stacks.total);
	FILE *f = fopen(argv[2], "w");
	if (!f) {
		perror(argv[2]);
		return 1;
	}
	double t0 = now_ms();
	int r = oxc_flame_write(&page, f);
	double t1 = now_ms();
	long size = ftell(f);
	if (fclose(f) != 0 || r < 0) {
		fprintf(stderr, "flamegen: writing %s failed\n", argv[2]);
		return 1;
	}
	printf("stacks=%u samples=%llu write_cpu_ms=%.0f bytes=%ld\n", (unsigned)stacks.nrows,
	       (unsigned long long)stacks.total, t1 - t0, size);
	oxc_report_destroy(&stacks);
	return 0;
}
