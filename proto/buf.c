/* buf.c - the growable byte buffer the encoder appends to. */
#include <errno.h>
#include <stdlib.h>

#include "oxp/oxp.h"

void oxp_buf_init(struct oxp_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void oxp_buf_destroy(struct oxp_buf *b)
{
	free(b->data);
	oxp_buf_init(b);
}

void oxp_buf_reset(struct oxp_buf *b)
{
	b->len = 0;
}

int oxp_buf_reserve(struct oxp_buf *b, size_t n)
{
	/* Memory even for n == 0: callers may then point into data (an empty
	 * name as the first thing in a buffer), and NULL + 0 is undefined. */
	if (b->data && n <= b->cap - b->len)
		return 0;
	if (n > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}
