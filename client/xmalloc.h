/*
 * xmalloc.h - allocation that cannot fail.  In a short-lived command-line
 * client, running out of memory has no useful recovery, so these print one
 * line and exit 1 instead of returning NULL.
 */
#ifndef OXC_XMALLOC_H
#define OXC_XMALLOC_H

#include <stddef.h>

void *oxc_xmalloc(size_t n);
void *oxc_xcalloc(size_t n, size_t size);
void *oxc_xrealloc(void *p, size_t n);
/* A NUL-terminated copy of the first len bytes of s; caller frees. */
char *oxc_xstrndup(const char *s, size_t len);
char *oxc_xstrdup(const char *s);

#endif
