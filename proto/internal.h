/* internal.h - shared between proto's own files; never installed. */
#ifndef OXP_INTERNAL_H
#define OXP_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

static inline uint32_t oxp__be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
	       (uint32_t)p[3];
}

static inline void oxp__be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Walk raw msgpack bytes without allocating and check every declared size
 * against the protocol limits and the bytes actually present.  Returns 0
 * when buf holds exactly one value within limits, -OXP_ELIMIT, -OXP_ESHAPE
 * (a msgpack type the protocol never uses) or -EBADMSG (truncated/invalid).
 */
int oxp__prescan(const uint8_t *buf, size_t len);

#endif
