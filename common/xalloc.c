/* xalloc.c - allocation that ends the process on failure; see ox/xalloc.h. */
#include "ox/xalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void default_oom(size_t n)
{
	/* No stdio, no formatting: they may need memory we do not have. */
	static const char msg[] = "out of memory\n";
	if (write(2, msg, sizeof(msg) - 1) < 0)
		abort();
	abort();
}

static ox_oom_fn *oom = default_oom;

void ox_xalloc_on_oom(ox_oom_fn *fn)
{
	oom = fn ? fn : default_oom;
}

static _Noreturn void fail(size_t n)
{
	oom(n);
	abort(); /* a handler that returned broke its contract */
}

void *ox_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		fail(n);
	return p;
}

void *ox_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		fail(n * sz);
	return p;
}

void *ox_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		fail(n);
	return q;
}

void ox_xgrow(void *pp, size_t *cap, size_t need, size_t sz)
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
		fail(SIZE_MAX);
	*p = ox_xrealloc(*p, ncap * sz);
	memset((char *)*p + *cap * sz, 0, (ncap - *cap) * sz);
	*cap = ncap;
}

char *ox_xstrndup(const char *s, size_t len)
{
	char *d = ox_xmalloc(len + 1);
	if (len)
		memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *ox_xstrdup(const char *s)
{
	return ox_xstrndup(s, strlen(s));
}

void ox_xindex_grow(struct ox_index *x, ox_index_hash_fn hash, const void *ctx)
{
	if (ox_index_grow(x, hash, ctx) < 0)
		fail(((size_t)x->mask + 1) * 2 * sizeof(*x->slots));
}

void ox_xindex_rebuild(struct ox_index *x, uint32_t n, ox_index_hash_fn hash, const void *ctx)
{
	if (ox_index_rebuild(x, n, hash, ctx) < 0)
		fail(((size_t)n + 1) * 2 * sizeof(*x->slots));
}
