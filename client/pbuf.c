/* pbuf.c - protobuf wire format and a gzip stream; see pbuf.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ox/xalloc.h"
#include "pbuf.h"

enum { WIRE_VARINT = 0, WIRE_LEN = 2 };

void oxc_pb_init(struct oxc_pb *b)
{
	memset(b, 0, sizeof(*b));
}

void oxc_pb_destroy(struct oxc_pb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static void reserve(struct oxc_pb *b, size_t n)
{
	if (b->cap - b->len >= n)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	b->p = ox_xrealloc(b->p, cap);
	b->cap = cap;
}

static void varint(struct oxc_pb *b, uint64_t v)
{
	reserve(b, 10);
	while (v >= 0x80) {
		b->p[b->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b->p[b->len++] = (uint8_t)v;
}

static void tag(struct oxc_pb *b, uint32_t field, int wire)
{
	varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

void oxc_pb_uint(struct oxc_pb *b, uint32_t field, uint64_t v)
{
	tag(b, field, WIRE_VARINT);
	varint(b, v);
}

void oxc_pb_int(struct oxc_pb *b, uint32_t field, int64_t v)
{
	/* int64, not sint64: negatives are ten bytes, as the spec says. */
	oxc_pb_uint(b, field, (uint64_t)v);
}

void oxc_pb_bytes(struct oxc_pb *b, uint32_t field, const void *p, size_t n)
{
	tag(b, field, WIRE_LEN);
	varint(b, n);
	reserve(b, n);
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

void oxc_pb_msg(struct oxc_pb *b, uint32_t field, const struct oxc_pb *sub)
{
	oxc_pb_bytes(b, field, sub->p, sub->len);
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

void oxc_pb_packed(struct oxc_pb *b, uint32_t field, const uint64_t *v, size_t n)
{
	if (!n)
		return;
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += varint_len(v[i]);
	tag(b, field, WIRE_LEN);
	varint(b, len);
	for (size_t i = 0; i < n; i++)
		varint(b, v[i]);
}

/* ---- gzip ---- */

int oxc_gz_init(struct oxc_gz *g, FILE *f, int level)
{
	memset(&g->z, 0, sizeof(g->z));
	g->f = f;
	g->err = 0;
	g->in = g->out = 0;
	/* 15 + 16: a gzip header and trailer around the deflate stream. */
	if (deflateInit2(&g->z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	return 0;
}

/* Run deflate with flush and write what it produced. */
static int pump(struct oxc_gz *g, int flush)
{
	int zr;
	do {
		g->z.next_out = g->buf;
		g->z.avail_out = sizeof(g->buf);
		zr = deflate(&g->z, flush);
		if (zr == Z_STREAM_ERROR)
			return -EINVAL;
		size_t have = sizeof(g->buf) - g->z.avail_out;
		if (have && fwrite(g->buf, 1, have, g->f) != have)
			return errno ? -errno : -EIO;
		g->out += have;
	} while (g->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	return 0;
}

int oxc_gz_write(struct oxc_gz *g, const void *p, size_t n)
{
	if (g->err)
		return g->err;
	while (n) {
		/* avail_in is 32-bit. */
		uInt chunk = n > (1u << 30) ? 1u << 30 : (uInt)n;
		g->z.next_in = (Bytef *)(uintptr_t)p;
		g->z.avail_in = chunk;
		errno = 0;
		if ((g->err = pump(g, Z_NO_FLUSH)) < 0)
			return g->err;
		p = (const uint8_t *)p + chunk;
		n -= chunk;
		g->in += chunk;
	}
	return 0;
}

int oxc_gz_finish(struct oxc_gz *g)
{
	if (!g->err) {
		g->z.avail_in = 0;
		errno = 0;
		g->err = pump(g, Z_FINISH);
	}
	deflateEnd(&g->z);
	return g->err;
}
