/*
 * pbuf.h - the protobuf wire format, as much as pprof needs (varints and
 * length-delimited fields), and a gzip stream to write it through.
 *
 * Why by hand and not protobuf-c: profile.proto uses two wire types, and a
 * profile of a million stacks is written field by field straight into
 * zlib, never held whole; generated code would build every message as a
 * tree of structs first and pack it at the end (twice the memory, and a
 * code generator and a runtime library in the build for ~60 lines).
 */
#ifndef OXC_PBUF_H
#define OXC_PBUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <zlib.h>

/* A message being built: owned bytes, grown as needed (out of memory is
 * fatal in the client).  init/destroy; reset keeps the memory. */
struct oxc_pb {
	uint8_t *p;
	size_t len, cap;
};

void oxc_pb_init(struct oxc_pb *b);
void oxc_pb_destroy(struct oxc_pb *b);
static inline void oxc_pb_reset(struct oxc_pb *b) { b->len = 0; }

/* Field writers.  Numbers of value 0 are written too (callers skip the
 * proto3 defaults they want left out). */
void oxc_pb_uint(struct oxc_pb *b, uint32_t field, uint64_t v);
void oxc_pb_int(struct oxc_pb *b, uint32_t field, int64_t v);
void oxc_pb_bytes(struct oxc_pb *b, uint32_t field, const void *p, size_t n);
/* A sub-message: sub's bytes, length-delimited. */
void oxc_pb_msg(struct oxc_pb *b, uint32_t field, const struct oxc_pb *sub);
/* A packed repeated varint field (omitted when n is 0). */
void oxc_pb_packed(struct oxc_pb *b, uint32_t field, const uint64_t *v, size_t n);

/* A gzip member written to f as it is fed.  Errors are sticky. */
struct oxc_gz {
	z_stream z;
	FILE *f;
	int err;                /* 0 or a negative errno */
	uint64_t in, out;       /* bytes fed and written */
	uint8_t buf[1 << 16];
};

/* level: zlib's 1..9.  0 or -ENOMEM. */
int oxc_gz_init(struct oxc_gz *g, FILE *f, int level);
/* 0 or the first error (-EIO from the FILE, with errno's value when set). */
int oxc_gz_write(struct oxc_gz *g, const void *p, size_t n);
/* Finish the member and free zlib's state (also after an error). */
int oxc_gz_finish(struct oxc_gz *g);

#endif
