/*
 * fuzz-decode.c - libFuzzer target for the frame reader and the decoders.
 *
 * The first input byte picks how the stream is cut into reads (1..256 bytes
 * at a time), so partial frames and several frames per read are both
 * exercised; every whole frame goes through the decoder.  A second pass
 * decodes the input as one frame body directly, so the decoder sees inputs
 * that are not valid frames too.
 */
#include <stddef.h>
#include <errno.h>
#include <stdint.h>

#include "oxp/oxp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_stream(struct oxp_decoder *d, const uint8_t *data, size_t size)
{
	struct oxp_reader r;
	if (oxp_reader_init(&r, 64 * 1024) < 0)
		return;
	size_t chunk = size ? (size_t)data[0] + 1 : 1, off = 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		ssize_t took = oxp_reader_feed(&r, data + off, n);
		if (took < 0)
			break;
		off += (size_t)took;
		const uint8_t *f;
		size_t len;
		int e;
		while ((e = oxp_reader_next(&r, &f, &len)) == 1) {
			struct oxp_msg m;
			(void)oxp_decoder_decode(d, f, len, &m, NULL);
		}
		if (e < 0 || (took == 0 && e == 0))
			break;
	}
	oxp_reader_destroy(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oxp_decoder *d;
	if (oxp_decoder_new(&d) < 0)
		return 0;
	decode_stream(d, data, size);
	struct oxp_msg m;
	if (oxp_decoder_decode(d, data, size, &m, NULL) == 0) {
		/* Whatever decodes must encode again. */
		struct oxp_buf b;
		oxp_buf_init(&b);
		int r = oxp_encode(&b, &m);
		if (r < 0 && r != -EMSGSIZE)
			__builtin_trap();
		oxp_buf_destroy(&b);
	}
	oxp_decoder_free(d);
	return 0;
}
