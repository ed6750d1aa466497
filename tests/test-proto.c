/*
 * test-proto.c - the wire protocol: round trips, framing, hostile input,
 * the socket-path rule.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include <msgpack.h>

#include "oxp/oxp.h"
#include "proto-samples.h"
#include "task.h"

/* ---- allocation watch: the largest single request while decoding ---- */
static size_t max_alloc;
#if !defined(__SANITIZE_ADDRESS__)
/* Under ASan, ASAN_OPTIONS=max_allocation_size_mb (set by proto.cmake)
 * makes an oversized request fatal instead. */
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *malloc(size_t n)
{
	if (n > max_alloc)
		max_alloc = n;
	return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
	if (a * b > max_alloc)
		max_alloc = a * b;
	return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
	if (n > max_alloc)
		max_alloc = n;
	return __libc_realloc(p, n);
}
#endif

static void encode_ok(struct oxp_buf *b, const struct oxp_msg *m)
{
	int r = oxp_encode(b, m);
	ASSERT_MSG(r == 0, "encode type %u: %s", m->type, oxp_strerror(r));
}

/* Decode the single frame in b (header included). */
static int decode_frame(struct oxp_decoder *d, const struct oxp_buf *b, struct oxp_msg *m)
{
	ASSERT(b->len >= OXP_FRAME_HDR);
	return oxp_decoder_decode(d, b->data + OXP_FRAME_HDR, b->len - OXP_FRAME_HDR, m, NULL);
}

TEST(proto_roundtrip_every_message)
{
	struct oxp_decoder *d;
	ASSERT_EQ(oxp_decoder_new(&d), 0);
	for (int i = 0; i < OXT_NSAMPLE_MSGS; i++) {
		struct oxp_msg m, back;
		struct oxp_buf a, b;
		oxp_buf_init(&a);
		oxp_buf_init(&b);
		oxt_sample_msg(i, &m);
		encode_ok(&a, &m);
		ASSERT_EQ(decode_frame(d, &a, &back), 0);
		ASSERT_EQ(back.type, m.type);
		/* Re-encoding what was decoded gives the same bytes: every field
		 * made it through. */
		encode_ok(&b, &back);
		ASSERT_EQ(a.len, b.len);
		ASSERT(memcmp(a.data, b.data, a.len) == 0);
		oxp_buf_destroy(&a);
		oxp_buf_destroy(&b);
	}
	oxp_decoder_free(d);
}

TEST(proto_roundtrip_fields_spot_check)
{
	struct oxp_decoder *d;
	struct oxp_msg m, back;
	struct oxp_buf a;
	ASSERT_EQ(oxp_decoder_new(&d), 0);
	oxp_buf_init(&a);
	oxt_sample_msg(11, &m);
	ASSERT_EQ(m.type, OXP_MSG_SAMPLES);
	encode_ok(&a, &m);
	ASSERT_EQ(decode_frame(d, &a, &back), 0);
	const struct oxp_samples *s = &back.u.samples;
	ASSERT_EQ(s->nstacks, 3);
	ASSERT_EQ(s->stacks[0].count, 97);
	ASSERT_EQ(s->stacks[0].nframes, 2);
	ASSERT_EQ(s->stacks[0].frames[1], 1);
	ASSERT_EQ(s->stacks[1].state, OXP_TS_BLOCKED);
	ASSERT_EQ(s->stacks[2].nframes, 0);
	ASSERT_EQ(s->frames[1].offset, 0xffffffffffull);
	ASSERT(s->strings[1].str.len == 13 && !memcmp(s->strings[1].str.ptr, "/tmp/workload", 13));
	ASSERT(s->stats.hz_achieved == 997.25);
	ASSERT_EQ(s->stats.sent, 101);
	ASSERT_EQ(s->first_ms, 1764662400000ull);
	ASSERT_EQ(s->last_ms, 1764662401234ull);
	oxp_buf_destroy(&a);
	oxp_decoder_free(d);
}

/* All example messages back to back, as one stream. */
static void all_frames(struct oxp_buf *b)
{
	oxp_buf_init(b);
	for (int i = 0; i < OXT_NSAMPLE_MSGS; i++) {
		struct oxp_msg m;
		oxt_sample_msg(i, &m);
		encode_ok(b, &m);
	}
}

static int drain(struct oxp_reader *r, struct oxp_decoder *d)
{
	int n = 0, e;
	const uint8_t *f;
	size_t len;
	while ((e = oxp_reader_next(r, &f, &len)) == 1) {
		struct oxp_msg m;
		ASSERT_EQ(oxp_decoder_decode(d, f, len, &m, NULL), 0);
		n++;
	}
	ASSERT_EQ(e, 0);
	return n;
}

TEST(proto_reader_byte_at_a_time)
{
	struct oxp_buf b;
	struct oxp_reader r;
	struct oxp_decoder *d;
	all_frames(&b);
	ASSERT_EQ(oxp_reader_init(&r, 0), 0);
	ASSERT_EQ(oxp_decoder_new(&d), 0);
	int frames = 0;
	for (size_t i = 0; i < b.len; i++) {
		ASSERT_EQ(oxp_reader_feed(&r, b.data + i, 1), 1);
		frames += drain(&r, d);
	}
	ASSERT_EQ(frames, OXT_NSAMPLE_MSGS);
	ASSERT_EQ(oxp_reader_pending(&r), 0);
	oxp_reader_destroy(&r);
	oxp_decoder_free(d);
	oxp_buf_destroy(&b);
}

TEST(proto_reader_several_frames_in_one_read)
{
	struct oxp_buf b;
	struct oxp_reader r;
	struct oxp_decoder *d;
	all_frames(&b);
	ASSERT_EQ(oxp_reader_init(&r, 0), 0);
	ASSERT_EQ(oxp_decoder_new(&d), 0);
	size_t off = 0;
	int frames = 0;
	while (off < b.len) {
		ssize_t n = oxp_reader_feed(&r, b.data + off, b.len - off);
		ASSERT(n >= 0);
		off += (size_t)n;
		frames += drain(&r, d);
	}
	ASSERT_EQ(frames, OXT_NSAMPLE_MSGS);
	oxp_reader_destroy(&r);
	oxp_decoder_free(d);
	oxp_buf_destroy(&b);
}

TEST(proto_decode_truncated_at_every_byte)
{
	struct oxp_decoder *d;
	ASSERT_EQ(oxp_decoder_new(&d), 0);
	for (int i = 0; i < OXT_NSAMPLE_MSGS; i++) {
		struct oxp_msg m;
		struct oxp_buf b;
		oxp_buf_init(&b);
		oxt_sample_msg(i, &m);
		encode_ok(&b, &m);
		const uint8_t *body = b.data + OXP_FRAME_HDR;
		size_t len = b.len - OXP_FRAME_HDR;
		for (size_t k = 0; k < len; k++) {
			int r = oxp_decoder_decode(d, body, k, &m, NULL);
			ASSERT_MSG(r < 0, "message %d cut to %zu of %zu bytes decoded", i, k, len);
		}
		oxp_buf_destroy(&b);
	}
	oxp_decoder_free(d);
}

static int feed_header(uint32_t cap, uint32_t declared)
{
	struct oxp_reader r;
	ASSERT_EQ(oxp_reader_init(&r, cap), 0);
	uint8_t h[4] = { (uint8_t)(declared >> 24), (uint8_t)(declared >> 16),
			 (uint8_t)(declared >> 8), (uint8_t)declared };
	ssize_t n = oxp_reader_feed(&r, h, 4);
	const uint8_t *f;
	size_t len;
	int e = n < 0 ? (int)n : oxp_reader_next(&r, &f, &len);
	/* The error is sticky and nothing grew for the bad frame. */
	if (e < 0) {
		ASSERT_EQ(oxp_reader_next(&r, &f, &len), e);
		ASSERT(r.cap <= 65536);
	}
	oxp_reader_destroy(&r);
	return e;
}

TEST(proto_reader_rejects_over_cap_and_zero_length)
{
	ASSERT_EQ(feed_header(0, OXP_FRAME_MAX + 1), -EMSGSIZE);
	ASSERT_EQ(feed_header(0, 0xffffffffu), -EMSGSIZE);
	ASSERT_EQ(feed_header(1000, 1001), -EMSGSIZE);
	ASSERT_EQ(feed_header(0, 0), -EBADMSG);
	ASSERT_EQ(feed_header(0, OXP_FRAME_MAX), 0); /* at the cap: wait for it */
}

TEST(proto_reader_grows_only_to_the_frame)
{
	struct oxp_reader r;
	ASSERT_EQ(oxp_reader_init(&r, 0), 0);
	uint8_t h[4] = { 0, 0x10, 0, 0 }; /* exactly 1 MiB declared */
	ASSERT_EQ(oxp_reader_feed(&r, h, 4), 4);
	uint8_t *p;
	size_t room;
	ASSERT_EQ(oxp_reader_space(&r, &p, &room), 0);
	ASSERT(r.cap <= OXP_FRAME_MAX + OXP_FRAME_HDR);
	ASSERT_EQ(room, OXP_FRAME_MAX);
	oxp_reader_destroy(&r);
}

/* Hand-made frames: envelope around arbitrary body bytes. */
static int decode_raw(const void *bytes, size_t n, uint32_t *ver)
{
	struct oxp_decoder *d;
	struct oxp_msg m;
	ASSERT_EQ(oxp_decoder_new(&d), 0);
	max_alloc = 0;
	int r = oxp_decoder_decode(d, bytes, n, &m, ver);
	oxp_decoder_free(d);
	return r;
}

TEST(proto_decode_rejects_hostile_headers)
{
	static const struct {
		const char *what;
		uint8_t b[16];
		size_t n;
	} cases[] = {
		{ "array32 of 2^32-1", { 0xdd, 0xff, 0xff, 0xff, 0xff }, 5 },
		{ "map32 of 2^32-1", { 0xdf, 0xff, 0xff, 0xff, 0xff }, 5 },
		{ "str32 of 4 GiB", { 0xdb, 0xff, 0xff, 0xff, 0xff }, 5 },
		{ "bin32 of 4 GiB", { 0xc6, 0xff, 0xff, 0xff, 0xff }, 5 },
		{ "array16 of 65535, empty", { 0xdc, 0xff, 0xff }, 3 },
		{ "envelope holding array32", { 0x93, 0x01, 0x16, 0xdd, 0x7f, 0xff, 0xff, 0xff }, 8 },
		{ "never-used byte 0xc1", { 0xc1 }, 1 },
		{ "ext8", { 0xc7, 0x01, 0x01, 0x00 }, 4 },
		{ "fixmap", { 0x81, 0x01, 0x02 }, 3 },
		{ "trailing bytes", { 0x93, 0x01, 0x03, 0x92, 0x00, 0xa0, 0x00 }, 7 },
		{ "empty", { 0 }, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = decode_raw(cases[i].b, cases[i].n, NULL);
		ASSERT_MSG(r < 0, "%s: accepted", cases[i].what);
		ASSERT_MSG(max_alloc < 8u << 20, "%s: allocated %zu", cases[i].what, max_alloc);
	}
}

TEST(proto_decode_rejects_deep_nesting)
{
	uint8_t b[101];
	memset(b, 0x91, 100); /* 100 arrays of one element each */
	b[100] = 0x00;
	ASSERT_EQ(decode_raw(b, sizeof(b), NULL), -OXP_ELIMIT);
}

/* Pack [version, type, body] with a caller-written body. */
static size_t pack(char *out, size_t cap, uint32_t version, uint32_t type,
		   void (*body)(msgpack_packer *))
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	msgpack_pack_uint32(&pk, version);
	msgpack_pack_uint32(&pk, type);
	body(&pk);
	ASSERT(sb.size <= cap);
	memcpy(out, sb.data, sb.size);
	size_t n = sb.size;
	msgpack_sbuffer_destroy(&sb);
	return n;
}

static void body_error_ok(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, -5);
	msgpack_pack_str_with_body(pk, "x", 1);
}

static void body_error_code_as_string(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 2);
	msgpack_pack_str_with_body(pk, "x", 1);
	msgpack_pack_str_with_body(pk, "x", 1);
}

static void body_error_short(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 1);
	msgpack_pack_int(pk, -5);
}

static void body_hello_nul_in_string(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 5);
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_int(pk, 1);
	msgpack_pack_str_with_body(pk, "a\0b", 3);
	msgpack_pack_str_with_body(pk, "", 0);
	msgpack_pack_str_with_body(pk, "", 0);
}

static void body_stack_too_deep(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 9);
	msgpack_pack_uint8(pk, 1);
	for (int i = 0; i < 3; i++)
		msgpack_pack_array(pk, 0);
	msgpack_pack_array(pk, 1);
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_uint8(pk, 0);
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_array(pk, OXP_MAX_DEPTH + 1);
	for (int i = 0; i <= OXP_MAX_DEPTH; i++)
		msgpack_pack_uint8(pk, 0);
	msgpack_pack_array(pk, 0); /* stats: wrong anyway, never reached */
	msgpack_pack_array(pk, 0); /* modules */
	msgpack_pack_uint8(pk, 0); /* first_ms, last_ms */
	msgpack_pack_uint8(pk, 0);
}

TEST(proto_decode_checks_types_shapes_version)
{
	char b[4096];
	uint32_t ver = 0;
	size_t n = pack(b, sizeof(b), OXP_PROTOCOL_VERSION, OXP_MSG_ERROR, body_error_ok);
	ASSERT_EQ(decode_raw(b, n, NULL), 0);
	n = pack(b, sizeof(b), OXP_PROTOCOL_VERSION + 1, OXP_MSG_ERROR, body_error_ok);
	ASSERT_EQ(decode_raw(b, n, &ver), -OXP_EVERSION);
	ASSERT_EQ(ver, OXP_PROTOCOL_VERSION + 1);
	n = pack(b, sizeof(b), OXP_PROTOCOL_VERSION, OXP_MSG_ERROR, body_error_code_as_string);
	ASSERT_EQ(decode_raw(b, n, NULL), -OXP_ESHAPE);
	n = pack(b, sizeof(b), OXP_PROTOCOL_VERSION, OXP_MSG_ERROR, body_error_short);
	ASSERT_EQ(decode_raw(b, n, NULL), -OXP_ESHAPE);
	n = pack(b, sizeof(b), OXP_PROTOCOL_VERSION, 99, body_error_ok);
	ASSERT_EQ(decode_raw(b, n, NULL), -OXP_ESHAPE);
	n = pack(b, sizeof(b), OXP_PROTOCOL_VERSION, OXP_MSG_HELLO, body_hello_nul_in_string);
	ASSERT_EQ(decode_raw(b, n, NULL), -OXP_ESHAPE);
	n = pack(b, sizeof(b), OXP_PROTOCOL_VERSION, OXP_MSG_SAMPLES, body_stack_too_deep);
	ASSERT_EQ(decode_raw(b, n, NULL), -OXP_ELIMIT);
}

TEST(proto_decode_random_bytes)
{
	struct oxp_decoder *d;
	ASSERT_EQ(oxp_decoder_new(&d), 0);
	uint64_t x = 0x9E3779B97F4A7C15ull;
	uint8_t b[512];
	max_alloc = 0;
	for (int i = 0; i < 200000; i++) {
		size_t n = 1 + (x % sizeof(b));
		for (size_t j = 0; j < n; j++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			b[j] = (uint8_t)x;
		}
		if (i & 1) { /* half of them look like an envelope */
			b[0] = 0x93;
			b[1] = OXP_PROTOCOL_VERSION;
		}
		struct oxp_msg m;
		int r = oxp_decoder_decode(d, b, n, &m, NULL);
		ASSERT(r <= 0);
	}
	ASSERT_MSG(max_alloc < 8u << 20, "allocated %zu", max_alloc);
	oxp_decoder_free(d);
}

TEST(proto_encode_refuses_oversize_and_keeps_buffer)
{
	static uint32_t ids[OXP_MAX_DEPTH];
	static struct oxp_stack stacks[4000];
	for (int i = 0; i < 4000; i++)
		stacks[i] = (struct oxp_stack){ 1, 0, 1, OXP_MAX_DEPTH, ids };
	struct oxp_msg m = { .type = OXP_MSG_SAMPLES };
	m.u.samples.nstacks = 4000; /* ~2 M objects: over the limit */
	m.u.samples.stacks = stacks;
	ASSERT(oxp_samples_objects(&m.u.samples) > OXP_MAX_OBJECTS);
	struct oxp_buf b;
	oxp_buf_init(&b);
	struct oxp_msg hello;
	oxt_sample_msg(0, &hello);
	encode_ok(&b, &hello);
	size_t before = b.len;
	ASSERT_EQ(oxp_encode(&b, &m), -EMSGSIZE);
	ASSERT_EQ(b.len, before);
	m.u.samples.nstacks = 400;
	ASSERT(oxp_samples_objects(&m.u.samples) <= OXP_MAX_OBJECTS);
	encode_ok(&b, &m);
	oxp_buf_destroy(&b);
}

TEST(proto_encode_rejects_bad_type)
{
	struct oxp_buf b;
	struct oxp_msg m = { .type = 77 };
	oxp_buf_init(&b);
	ASSERT_EQ(oxp_encode(&b, &m), -EINVAL);
	ASSERT_EQ(b.len, 0);
	oxp_buf_destroy(&b);
}

static const char *fake_xdg, *fake_sock;
static char *fake_env(const char *name)
{
	if (!strcmp(name, "XDG_RUNTIME_DIR"))
		return (char *)fake_xdg;
	if (!strcmp(name, "OXPROF_SOCKET"))
		return (char *)fake_sock;
	return NULL;
}

TEST(proto_socket_path_rule)
{
	char p[108];
	fake_sock = "/env/sock";
	fake_xdg = "/run/user/1000";
	ASSERT_EQ(oxp_socket_path(p, sizeof(p), "/explicit.sock", 0, fake_env), 0);
	ASSERT_STREQ(p, "/explicit.sock");
	ASSERT_EQ(oxp_socket_path(p, sizeof(p), NULL, 0, fake_env), 0);
	ASSERT_STREQ(p, "/env/sock");
	fake_sock = NULL;
	ASSERT_EQ(oxp_socket_path(p, sizeof(p), "", 0, fake_env), 0);
	if (access("/run/oxprof", X_OK) == 0) {
		ASSERT_STREQ(p, "/run/oxprof/oxprof.sock");
	} else {
		ASSERT_STREQ(p, "/run/user/1000/oxprof/oxprof.sock");
		fake_xdg = NULL;
		ASSERT_EQ(oxp_socket_path(p, sizeof(p), NULL, 0, fake_env), 0);
		char want[64];
		snprintf(want, sizeof(want), "/tmp/oxprof-%u/oxprof.sock", (unsigned)getuid());
		ASSERT_STREQ(p, want);
	}
	char tiny[8];
	ASSERT_EQ(oxp_socket_path(tiny, sizeof(tiny), "/a/long/path", 0, fake_env), -ENAMETOOLONG);
}

TEST(proto_send_and_recv_over_a_socket)
{
	int sv[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct oxp_buf b;
	all_frames(&b);
	ASSERT_EQ(oxp_send_all(sv[0], b.data, b.len, 1000), 0);
	struct oxp_reader r;
	struct oxp_decoder *d;
	ASSERT_EQ(oxp_reader_init(&r, 0), 0);
	ASSERT_EQ(oxp_decoder_new(&d), 0);
	for (int i = 0; i < OXT_NSAMPLE_MSGS; i++) {
		struct oxp_msg m, want;
		oxt_sample_msg(i, &want);
		ASSERT_EQ(oxp_recv_msg(sv[1], &r, d, &m, 1000), 0);
		ASSERT_EQ(m.type, want.type);
	}
	struct oxp_msg m;
	ASSERT_EQ(oxp_recv_msg(sv[1], &r, d, &m, 50), -ETIMEDOUT);
	close(sv[0]);
	ASSERT_EQ(oxp_recv_msg(sv[1], &r, d, &m, 1000), -ECONNRESET);
	oxp_reader_destroy(&r);
	oxp_decoder_free(d);
	oxp_buf_destroy(&b);
	close(sv[1]);
}

TEST(proto_strerror_names_codes)
{
	ASSERT_STREQ(oxp_strerror(-OXP_EVERSION), "protocol version mismatch");
	ASSERT(strstr(oxp_strerror(-OXP_ENODAEMON), "oxprofd"));
	ASSERT_STREQ(oxp_strerror(-EPERM), strerror(EPERM));
}
