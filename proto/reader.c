/*
 * reader.c - framing over a byte stream.
 *
 * The buffer starts at READER_MIN bytes and grows only to hold one whole
 * frame whose declared length has already passed the cap, so a peer can make
 * the reader hold at most frame_max + 4 bytes (plus READER_MIN of slack).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "oxp/oxp.h"

#define READER_MIN 65536

int oxp_reader_init(struct oxp_reader *r, uint32_t frame_max)
{
	memset(r, 0, sizeof(*r));
	r->frame_max = frame_max ? frame_max : OXP_FRAME_MAX;
	r->buf = malloc(READER_MIN);
	if (!r->buf)
		return -ENOMEM;
	r->cap = READER_MIN;
	return 0;
}

void oxp_reader_destroy(struct oxp_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = r->len = r->off = 0;
}

size_t oxp_reader_pending(const struct oxp_reader *r)
{
	return r->len - r->off;
}

/* Validate the header of the first held frame, if it is all here. */
static int check_head(struct oxp_reader *r, uint32_t *flen)
{
	*flen = 0;
	if (r->err)
		return r->err;
	if (r->len - r->off < OXP_FRAME_HDR)
		return 0;
	*flen = oxp__be32_get(r->buf + r->off);
	if (*flen == 0)
		r->err = -EBADMSG;
	else if (*flen > r->frame_max)
		r->err = -EMSGSIZE;
	return r->err;
}

int oxp_reader_space(struct oxp_reader *r, uint8_t **ptr, size_t *len)
{
	uint32_t flen;
	int e = check_head(r, &flen);
	if (e < 0)
		return e;
	if (r->off > 0) { /* slide the unconsumed tail to the front */
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	size_t need = flen ? OXP_FRAME_HDR + (size_t)flen : READER_MIN;
	if (need > r->cap) {
		uint8_t *p = realloc(r->buf, need);
		if (!p)
			return -ENOMEM;
		r->buf = p;
		r->cap = need;
	}
	if (r->len == r->cap)
		return -ENOBUFS; /* a whole frame is held: call oxp_reader_next */
	*ptr = r->buf + r->len;
	*len = r->cap - r->len;
	return 0;
}

int oxp_reader_commit(struct oxp_reader *r, size_t n)
{
	uint32_t flen;
	if (r->err)
		return r->err;
	r->len += n;
	return check_head(r, &flen);
}

ssize_t oxp_reader_feed(struct oxp_reader *r, const void *data, size_t n)
{
	uint8_t *p;
	size_t room;
	int e = oxp_reader_space(r, &p, &room);
	if (e == -ENOBUFS)
		return 0;
	if (e < 0)
		return e;
	if (room > n)
		room = n;
	memcpy(p, data, room);
	e = oxp_reader_commit(r, room);
	return e < 0 ? e : (ssize_t)room;
}

int oxp_reader_next(struct oxp_reader *r, const uint8_t **frame, size_t *len)
{
	uint32_t flen;
	int e = check_head(r, &flen);
	if (e < 0)
		return e;
	if (flen == 0 || r->len - r->off < OXP_FRAME_HDR + (size_t)flen)
		return 0;
	*frame = r->buf + r->off + OXP_FRAME_HDR;
	*len = flen;
	r->off += OXP_FRAME_HDR + (size_t)flen;
	return 1;
}
