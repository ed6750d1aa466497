/* make-corpus.c ROOT - write one framed example of every message into
 * ROOT/fuzz-decode/, plus one file holding all of them back to back.
 * Targets that read message streams too may take the same seeds: add their
 * directory to seed_dirs. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

#include "../proto-samples.h"

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

static const char *const seed_dirs[] = {"fuzz-decode", "fuzz-ingest"};

static int write_seeds(const char *dir);

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make-corpus ROOT\n");
		return 2;
	}
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	for (size_t i = 0; i < sizeof(seed_dirs) / sizeof(seed_dirs[0]); i++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/%s", argv[1], seed_dirs[i]);
		if ((mkdir(dir, 0755) < 0 && errno != EEXIST) || write_seeds(dir) < 0) {
			perror(dir);
			return 1;
		}
	}
	return 0;
}

static int write_seeds(const char *dir)
{
	struct oxp_buf all;
	oxp_buf_init(&all);
	for (int i = 0; i < OXT_NSAMPLE_MSGS; i++) {
		struct oxp_msg m;
		struct oxp_buf one;
		char name[32];
		oxp_buf_init(&one);
		oxt_sample_msg(i, &m);
		if (oxp_encode(&one, &m) < 0 || oxp_encode(&all, &m) < 0)
			return -1;
		/* The bare body too, for the direct decode path. */
		snprintf(name, sizeof(name), "msg-%02d", i);
		if (write_file(dir, name, one.data, one.len) < 0)
			return -1;
		snprintf(name, sizeof(name), "body-%02d", i);
		if (write_file(dir, name, one.data + 4, one.len - 4) < 0)
			return -1;
		oxp_buf_destroy(&one);
	}
	int r = write_file(dir, "stream", all.data, all.len);
	oxp_buf_destroy(&all);
	return r;
}
