/* xmalloc.c - allocation that exits on failure; see xmalloc.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static void oom(void)
{
	fputs("oxprofctl: out of memory\n", stderr);
	exit(1);
}

void *oxc_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *oxc_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *oxc_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *oxc_xstrndup(const char *s, size_t len)
{
	char *d = oxc_xmalloc(len + 1);
	if (len)
		memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

char *oxc_xstrdup(const char *s)
{
	return oxc_xstrndup(s, strlen(s));
}
