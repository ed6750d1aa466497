/*
 * xalloc.h - allocation that cannot fail, for the daemon and the client.
 * Out of memory ends the process (STYLE rule 6): for the daemon a
 * half-built aggregate is worse than a restart, and its budgets keep it far
 * from the limit; a short-lived client has no useful recovery.  Never for
 * the agent, which must not end its host: it is a separate library
 * (oxxalloc) that the agent does not link.
 */
#ifndef OX_XALLOC_H
#define OX_XALLOC_H

#include <stddef.h>

#include "ox/index.h"

/* Called with the size that failed; must not return.  The default writes
 * one line to fd 2 and aborts; each program sets its own at startup. */
typedef void ox_oom_fn(size_t n);
void ox_xalloc_on_oom(ox_oom_fn *fn);

void *ox_xmalloc(size_t n);
void *ox_xcalloc(size_t n, size_t sz);
void *ox_xrealloc(void *p, size_t n);
/* Grow *p (holding *cap elements of sz bytes) to hold at least need; new
 * elements are zeroed. */
void ox_xgrow(void *pp, size_t *cap, size_t need, size_t sz);
/* A NUL-terminated copy of the first len bytes of s; caller frees. */
char *ox_xstrndup(const char *s, size_t len);
char *ox_xstrdup(const char *s);

/* ox_index_reserve and ox_index_rebuild (ox/index.h) that cannot fail. */
void ox_xindex_grow(struct ox_index *x, ox_index_hash_fn hash, const void *ctx);
static inline void ox_xindex_reserve(struct ox_index *x, ox_index_hash_fn hash, const void *ctx)
{
	if (ox_index_growth(x))
		ox_xindex_grow(x, hash, ctx);
}
void ox_xindex_rebuild(struct ox_index *x, uint32_t n, ox_index_hash_fn hash, const void *ctx);

#endif
