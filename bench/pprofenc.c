/*
 * pprofenc.c - pprof encoding cost: N unique stacks (16 frames each, drawn
 * from 10 000 C++ functions in 20 modules, so demangling is paid too) fed
 * to the client's encoder as the daemon's by=frames answer would be, then
 * written gzip'ed to a file.  Prints one line per N: collect and write time
 * (wall and CPU seconds), raw and compressed size.  NO_DEMANGLE=1 in the
 * environment leaves names mangled (the demangler's share).
 *
 * usage: pprofenc OUTFILE N...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oxp/oxp.h"
#include "pprof.h"

#define DEPTH 16
#define NFUNCS 10000u
#define NMODS 20u
#define CHUNK 16384u

static double clk(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wall time says what a user waits; CPU time is what the encoder costs,
 * whatever else the machine runs. */
static double now(void) { return clk(CLOCK_MONOTONIC); }
static double cpu(void) { return clk(CLOCK_PROCESS_CPUTIME_ID); }

static uint32_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return (uint32_t)x;
}

struct gen {
	char (*names)[48];
	char (*paths)[48];
	char (*bids)[41];
	uint8_t *fsent, *msent;
	struct oxp_row rows[CHUNK];
	uint32_t ids[CHUNK][DEPTH];
	struct oxp_qframe frames[CHUNK * DEPTH];
	struct oxp_qmodule mods[NMODS];
};

/* Stack i: the leaf and its caller from i itself, so every stack is
 * unique; frames nearer the root depend on fewer bits of i, so stacks
 * share their roots as real call trees do. */
static void stack_of(uint64_t i, uint32_t *ids)
{
	ids[0] = (uint32_t)(i % NFUNCS);
	ids[1] = (uint32_t)(i / NFUNCS % NFUNCS);
	for (uint32_t d = 2; d < DEPTH; d++)
		ids[d] = mix((i >> (d + 2)) * DEPTH + d) % NFUNCS;
}

static void feed(struct oxc_pprof *p, struct gen *g, uint64_t n)
{
	struct oxp_msg m = { .type = OXP_MSG_QUERY_HEAD };
	m.u.query_head = (struct oxp_query_head){
		.total = n, .first_ms = 1700000000000ull, .last_ms = 1700000060000ull,
		.nrows = (uint32_t)(n > UINT32_MAX ? UINT32_MAX : n), .nprocs = 4 };
	oxc_pprof_add(p, &m);
	for (uint64_t base = 0; base < n; base += CHUNK) {
		uint32_t k = n - base < CHUNK ? (uint32_t)(n - base) : CHUNK, nf = 0, nm = 0;
		for (uint32_t r = 0; r < k; r++) {
			uint64_t i = base + r;
			stack_of(i, g->ids[r]);
			for (uint32_t d = 0; d < DEPTH; d++) {
				uint32_t f = g->ids[r][d], mod = f % NMODS;
				if (!g->msent[mod]) {
					g->msent[mod] = 1;
					g->mods[nm++] = (struct oxp_qmodule){ mod, oxp_str_c(g->paths[mod]),
									      oxp_str_c(g->bids[mod]), 0 };
				}
				if (!g->fsent[f]) {
					g->fsent[f] = 1;
					g->frames[nf++] = (struct oxp_qframe){ f, oxp_str_c(g->names[f]), mod,
									       0x1000 + 16 * (uint64_t)f };
				}
			}
			g->rows[r] = (struct oxp_row){ oxp_str_c("worker"), oxp_str_c("/usr/bin/app"),
						       (int32_t)(1000 + i % 4), (int32_t)(2000 + i % 64),
						       1 + i % 7, 1 + i % 7, DEPTH, g->ids[r] };
		}
		m.type = OXP_MSG_QUERY_ROWS;
		m.u.query_rows = (struct oxp_query_rows){ k, g->rows, nf, g->frames, nm, g->mods };
		if (oxc_pprof_add(p, &m) < 0) {
			fprintf(stderr, "pprofenc: add failed\n");
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: pprofenc OUTFILE N...\n");
		return 2;
	}
	struct gen *g = calloc(1, sizeof(*g));
	g->names = calloc(NFUNCS, sizeof(*g->names));
	g->paths = calloc(NMODS, sizeof(*g->paths));
	g->bids = calloc(NMODS, sizeof(*g->bids));
	for (uint32_t f = 0; f < NFUNCS; f++) { /* app::modM::fnF(int) */
		char fn[16];
		int len = snprintf(fn, sizeof(fn), "fn%u", f);
		snprintf(g->names[f], sizeof(g->names[f]), "_ZN3app%s%u%d%sEi",
			 f % NMODS >= 10 ? "5mod" : "4mod", f % NMODS, len, fn);
	}
	for (uint32_t m = 0; m < NMODS; m++) {
		snprintf(g->paths[m], sizeof(g->paths[m]), "/usr/lib/libapp%u.so", m);
		snprintf(g->bids[m], sizeof(g->bids[m]), "%08x%08x%08x%08x%08x", mix(m), mix(m + 1),
			 mix(m + 2), mix(m + 3), mix(m + 4));
	}
	printf("%9s %9s %9s %9s %9s %11s %10s %8s\n", "stacks", "collect_s", "coll_cpu",
	       "write_s", "write_cpu", "raw_bytes", "gz_bytes", "B/stack");
	for (int a = 2; a < argc; a++) {
		uint64_t n = strtoull(argv[a], NULL, 10);
		g->fsent = calloc(NFUNCS, 1);
		g->msent = calloc(NMODS, 1);
		struct oxc_pprof *p = oxc_pprof_new();
		double t0 = now(), c0 = cpu();
		feed(p, g, n);
		double t1 = now(), c1 = cpu();
		FILE *f = fopen(argv[1], "wb");
		struct oxc_pprof_opts o = { OXP_MODE_CPU, 100, getenv("NO_DEMANGLE") != NULL, 0 };
		struct oxc_pprof_info info;
		if (!f || oxc_pprof_write(p, &o, f, &info) < 0 || fclose(f) != 0) {
			perror("pprofenc: write");
			return 1;
		}
		double t2 = now(), c2 = cpu();
		printf("%9llu %9.3f %9.3f %9.3f %9.3f %11llu %10llu %8.1f\n", (unsigned long long)n,
		       t1 - t0, c1 - c0, t2 - t1, c2 - c1, (unsigned long long)info.raw_bytes,
		       (unsigned long long)info.bytes, (double)info.bytes / (double)n);
		oxc_pprof_free(p);
		free(g->fsent);
		free(g->msent);
	}
	return 0;
}
