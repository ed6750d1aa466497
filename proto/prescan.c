/*
 * prescan.c - bound a msgpack value before msgpack-c sees it.
 *
 * msgpack-c's unpacker allocates from counts the peer declares (an array
 * header of 2^32-1 elements costs a huge allocation from 5 bytes of input).
 * This walk reads only headers, allocates nothing, and refuses any count
 * above the protocol limits or above what the remaining bytes could hold,
 * so what the unpacker then allocates is bounded by a small multiple of the
 * frame size.
 */
#include <errno.h>

#include "internal.h"
#include "oxp/protocol.h"

/* Size of a header and of the data that follows it. */
struct item {
	size_t hdr;      /* bytes of the type byte plus length field */
	uint64_t body;   /* bytes of payload (str) */
	uint64_t count;  /* elements (array) or pairs (map) */
	int kind;        /* 0 scalar, 1 str, 2 array, 3 map, 4 bin/ext, -1 bad */
};

static uint64_t be_n(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* Needs 9 readable bytes at p or returns kind -1 for short input via avail. */
static struct item classify(const uint8_t *p, size_t avail)
{
	struct item it = { 1, 0, 0, 0 };
	uint8_t c = p[0];
	int n = 0;
	if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
		return it;
	if (c >= 0x80 && c <= 0x8f) {
		it.kind = 3;
		it.count = c & 0x0f;
		return it;
	}
	if (c >= 0x90 && c <= 0x9f) {
		it.kind = 2;
		it.count = c & 0x0f;
		return it;
	}
	if (c >= 0xa0 && c <= 0xbf) {
		it.kind = 1;
		it.body = c & 0x1f;
		return it;
	}
	switch (c) {
	case 0xca: it.hdr = 5; return it;               /* float32 */
	case 0xcb: it.hdr = 9; return it;               /* float64 */
	case 0xcc: case 0xd0: it.hdr = 2; return it;    /* 8-bit ints */
	case 0xcd: case 0xd1: it.hdr = 3; return it;
	case 0xce: case 0xd2: it.hdr = 5; return it;
	case 0xcf: case 0xd3: it.hdr = 9; return it;
	case 0xd9: n = 1; it.kind = 1; break;           /* str8/16/32 */
	case 0xda: n = 2; it.kind = 1; break;
	case 0xdb: n = 4; it.kind = 1; break;
	case 0xdc: n = 2; it.kind = 2; break;           /* array16/32 */
	case 0xdd: n = 4; it.kind = 2; break;
	case 0xde: n = 2; it.kind = 3; break;           /* map16/32 */
	case 0xdf: n = 4; it.kind = 3; break;
	case 0xc4: n = 1; it.kind = 4; break;           /* bin8/16/32 */
	case 0xc5: n = 2; it.kind = 4; break;
	case 0xc6: n = 4; it.kind = 4; break;
	default: it.kind = 4; return it;                /* ext, fixext, 0xc1 */
	}
	it.hdr = 1 + (size_t)n;
	if (avail < it.hdr) {
		it.kind = -1;
		return it;
	}
	uint64_t v = be_n(p + 1, n);
	if (it.kind == 1 || it.kind == 4)
		it.body = v;
	else
		it.count = v;
	return it;
}

/* Check one header against limits; 0 or a negative code. */
static int check(const struct item *it, size_t left, size_t *objects)
{
	if (it->kind == -1 || it->hdr > left)
		return -EBADMSG;
	if (it->kind == 1 && it->body > OXP_MAX_STR)
		return -OXP_ELIMIT;
	if ((it->kind == 2 || it->kind == 3) && it->count > OXP_MAX_ARRAY)
		return -OXP_ELIMIT;
	if (it->kind == 4 && it->body > OXP_MAX_STR)
		return -OXP_ELIMIT;
	if (it->kind == 3 || it->kind == 4)
		return -OXP_ESHAPE; /* the protocol uses neither maps nor bin/ext */
	/* Every element takes at least one byte. */
	if (it->body > left - it->hdr || it->count > left - it->hdr)
		return -EBADMSG;
	*objects += it->count;
	if (*objects > OXP_MAX_OBJECTS)
		return -OXP_ELIMIT;
	return 0;
}

int oxp__prescan(const uint8_t *buf, size_t len)
{
	uint64_t need[OXP_MAX_NEST + 1];
	int depth = 0;
	size_t off = 0, objects = 1;
	need[0] = 1;
	while (depth >= 0) {
		if (need[depth] == 0) {
			depth--;
			continue;
		}
		need[depth]--;
		if (off >= len)
			return -EBADMSG;
		struct item it = classify(buf + off, len - off);
		int r = check(&it, len - off, &objects);
		if (r < 0)
			return r;
		off += it.hdr + (size_t)it.body;
		if (it.kind == 2 && it.count > 0) {
			if (depth >= OXP_MAX_NEST)
				return -OXP_ELIMIT;
			need[++depth] = it.count;
		}
	}
	return off == len ? 0 : -EBADMSG;
}
