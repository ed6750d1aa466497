/* grow.h - the drain side's growable arrays: room for need elements of sz
 * bytes in *pp (capacity *cap, doubling from 256).  0 or -ENOMEM. */
#ifndef OXA_GROW_H
#define OXA_GROW_H

#include <errno.h>
#include <stdlib.h>

static inline int oxa_grow(void *pp, size_t *cap, size_t need, size_t sz)
{
	void **p = pp;
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 256;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * sz);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

#endif
