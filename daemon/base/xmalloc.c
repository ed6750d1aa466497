/* xmalloc.c - allocation wrappers that abort on out-of-memory. */
#include "xmalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void oom(size_t n)
{
	/* No stdio buffers: they may need memory we do not have. */
	char msg[96];
	int len = snprintf(msg, sizeof(msg), "<2>oxprofd: out of memory (%zu bytes)\n", n);
	if (len > 0 && write(2, msg, (size_t)len) < 0)
		abort();
	abort();
}

void *oxd_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *oxd_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		oom(n * sz);
	return p;
}

void *oxd_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

void oxd_xgrow(void *pp, size_t *cap, size_t need, size_t sz)
{
	void **p = pp;
	/* An array exists once grown, even to 0 elements: callers point into
	 * it (a stack of no frames), and NULL + 0 is undefined. */
	if (need <= *cap && *p)
		return;
	size_t ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / sz)
		oom(SIZE_MAX);
	*p = oxd_xrealloc(*p, ncap * sz);
	memset((char *)*p + *cap * sz, 0, (ncap - *cap) * sz);
	*cap = ncap;
}
