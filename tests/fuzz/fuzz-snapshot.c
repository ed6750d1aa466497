/*
 * fuzz-snapshot.c - libFuzzer target for oxprofd's snapshot loader.
 *
 * Random bytes never get past a CRC, so by default the input is a payload
 * and this target gives it a valid header (oxd_snapshot_header); an input
 * whose first byte is odd is used as the whole file instead, for the
 * header checks.  Whatever loads must be something a daemon can serve:
 * its STATUS and every kind of QUERY encode and decode again, and a full
 * reset leaves zero samples (the totals added up).
 *
 * Seeds: on its first run with an empty corpus directory, the target
 * writes there a few payloads the daemon's own writer produced.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agg.h"
#include "query.h"
#include "snapshot.h"
#include "status.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every frame in b decodes. */
static void must_decode(struct oxp_decoder *d, const struct oxp_buf *b)
{
	struct oxp_reader r;
	if (oxp_reader_init(&r, 0) < 0)
		return;
	size_t off = 0;
	while (off < b->len) {
		ssize_t took = oxp_reader_feed(&r, b->data + off, b->len - off);
		if (took < 0)
			__builtin_trap();
		off += (size_t)took;
		const uint8_t *f;
		size_t len;
		int e;
		while ((e = oxp_reader_next(&r, &f, &len)) == 1) {
			struct oxp_msg m;
			if (oxp_decoder_decode(d, f, len, &m, NULL) < 0)
				__builtin_trap(); /* a client could not read this */
		}
		if (e < 0)
			__builtin_trap();
	}
	oxp_reader_destroy(&r);
}

static void serve(struct oxd_agg *a)
{
	struct oxp_decoder *d;
	if (oxp_decoder_new(&d) < 0)
		return;
	struct oxd_status_daemon s = { .fleet = { 0, OXP_MODE_CPU, 100, 128 } };
	struct oxp_buf b;
	oxp_buf_init(&b);
	uint32_t cut;
	oxd_status_encode(a, &s, &b, &cut);
	must_decode(d, &b);
	for (uint8_t by = OXP_BY_FUNCTION; by <= OXP_BY_STACK; by++) {
		struct oxp_command c = { .cmd = OXP_CMD_QUERY, .by = by, .mode = 0xff,
					 .sort = by & 1 ? OXP_SORT_TOTAL : OXP_SORT_SELF };
		c.sel.exe = c.sel.thread = (struct oxp_str){ "", 0 };
		struct oxd_query *q;
		if (oxd_query_new(a, &c, &q) < 0)
			continue;
		struct oxp_msg m = { .type = OXP_MSG_QUERY_HEAD };
		oxd_query_head(q, &m.u.query_head);
		oxp_buf_reset(&b);
		if (oxp_encode(&b, &m) < 0)
			__builtin_trap();
		int more;
		do {
			more = oxd_query_next(q, a, &b);
			if (more < 0)
				__builtin_trap();
			must_decode(d, &b);
			oxp_buf_reset(&b);
		} while (more > 0);
		oxd_query_free(q);
	}
	oxp_buf_destroy(&b);
	oxp_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *img = malloc(size + OXD_SNAPSHOT_HDR);
	size_t len;
	if (!img)
		return 0;
	if (size && (data[0] & 1)) {
		memcpy(img, data + 1, size - 1);
		len = size - 1;
	} else {
		size_t n = size ? size - 1 : 0;
		memcpy(img + OXD_SNAPSHOT_HDR, data + (size ? 1 : 0), n);
		oxd_snapshot_header(img, img + OXD_SNAPSHOT_HDR, n);
		len = n + OXD_SNAPSHOT_HDR;
	}
	struct oxd_agg a;
	oxd_agg_init(&a, 64u << 20, 16u << 20);
	char why[200];
	if (oxd_snapshot_parse(&a, img, len, why, sizeof(why)) == 0) {
		serve(&a);
		oxd_agg_reset(&a, NULL, NULL);
		if (a.samples != 0)
			__builtin_trap(); /* the totals did not add up */
	}
	oxd_agg_destroy(&a);
	free(img);
	return 0;
}

/* ---- seeds ---- */

/* Two processes, a few threads and stacks, some reset. */
static void build(struct oxd_agg *a, int variant)
{
	oxd_agg_init(a, 64u << 20, 16u << 20);
	static const char *const names[] = { "main", "work", "leaf", "libc.so.6", "/bin/x" };
	uint32_t s[5];
	for (int i = 0; i < 5; i++)
		s[i] = oxd_agg_str(a, names[i], strlen(names[i]));
	uint32_t fr[3];
	for (int i = 0; i < 3; i++)
		fr[i] = oxd_agg_frame(a, s[i], s[3], (uint64_t)i * 16);
	for (int p = 0; p < 1 + variant; p++) {
		struct oxd_proc pr;
		memset(&pr, 0, sizeof(pr));
		pr.pid = 100 + p;
		pr.exe = s[4];
		pr.cmdline = s[4];
		pr.mode = (uint8_t)(p & 1);
		pr.hz_requested = 99;
		pr.hz_achieved = 98.5;
		snprintf(pr.source, sizeof(pr.source), "seed");
		pr.samples = 6;
		pr.dropped_daemon = (uint64_t)p;
		uint32_t id = oxd_agg_restore_proc(a, &pr);
		uint32_t t = oxd_agg_thread(a, id, 1000 + (uint32_t)p, s[0]);
		oxd_agg_restore_entry(a, t, fr, 3, 1);
		oxd_agg_restore_entry(a, t, fr + 1, 2, 2);
		oxd_agg_restore_entry(a, t, fr + 2, 1, 3);
		a->samples += 6;
		a->dropped += (uint64_t)p;
	}
}

static void write_seed(const char *corpus, int variant)
{
	char dir[] = "/tmp/fuzz-snapshot-XXXXXX", path[600], out[600];
	if (!mkdtemp(dir))
		return;
	struct oxd_agg a;
	build(&a, variant);
	uint64_t bytes;
	int r = oxd_snapshot_write(&a, dir, &bytes);
	oxd_agg_destroy(&a);
	snprintf(path, sizeof(path), "%s/oxprofd.snap", dir);
	FILE *f = r == 0 ? fopen(path, "rb") : NULL;
	uint8_t *buf = malloc(bytes + 1);
	if (f && buf && fread(buf, 1, bytes, f) == bytes && bytes >= OXD_SNAPSHOT_HDR) {
		/* The payload behind a 0 byte: this target adds the header. */
		buf[OXD_SNAPSHOT_HDR - 1] = 0;
		snprintf(out, sizeof(out), "%s/seed-snapshot-%d", corpus, variant);
		FILE *o = fopen(out, "wb");
		size_t n = bytes - OXD_SNAPSHOT_HDR + 1;
		if (o && fwrite(buf + OXD_SNAPSHOT_HDR - 1, 1, n, o) != n)
			fprintf(stderr, "fuzz-snapshot: cannot write %s\n", out);
		if (o)
			fclose(o);
	}
	if (f)
		fclose(f);
	free(buf);
	unlink(path);
	rmdir(dir);
}

static int is_empty_dir(const char *p)
{
	DIR *d = opendir(p);
	if (!d)
		return 0;
	struct dirent *e;
	int empty = 1;
	while (empty && (e = readdir(d)))
		empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
	closedir(d);
	return empty;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (int i = 1; i < *argc; i++) {
		const char *arg = (*argv)[i];
		if (arg[0] == '-')
			continue;
		if (is_empty_dir(arg))
			for (int v = 0; v < 3; v++)
				write_seed(arg, v);
		break; /* the first directory is the corpus */
	}
	return 0;
}
