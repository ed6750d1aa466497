/*
 * xmalloc.h - allocation that cannot fail.  The daemon treats out-of-memory
 * as fatal: a half-built aggregate is worse than a restart, and its budgets
 * keep it far from the limit in normal operation.
 */
#ifndef OXD_XMALLOC_H
#define OXD_XMALLOC_H

#include <stddef.h>

void *oxd_xmalloc(size_t n);
void *oxd_xcalloc(size_t n, size_t sz);
void *oxd_xrealloc(void *p, size_t n);
/* Grow *p (holding *cap elements of sz bytes) to hold at least need; new
 * elements are zeroed. */
void oxd_xgrow(void *pp, size_t *cap, size_t need, size_t sz);

#endif
