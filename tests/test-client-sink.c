/*
 * test-client-sink.c - oxprofctl's output sinks (client/sink.c): a write
 * error is caught with its errno wherever it happens, and a -o file is
 * complete or untouched, never half-written.  And the one table of file
 * formats (oxc_report_write) that the pprof and HTML writers plug into.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "args.h"
#include "report.h"
#include "sink.h"
#include "task.h"

static char *tmpdir(void)
{
	char *d = strdup("/tmp/oxt-sink.XXXXXX");
	ASSERT(mkdtemp(d));
	return d;
}

/* Entries in dir besides "." and "..". */
static int entries(const char *dir)
{
	DIR *dp = opendir(dir);
	ASSERT(dp);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dp)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(dp);
	return n;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	ASSERT(f);
	static char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

TEST(client_sink_file_is_all_or_nothing)
{
	char *d = tmpdir(), path[512];
	struct oxc_sink s;
	snprintf(path, sizeof(path), "%s/out.folded", d);
	ASSERT_EQ(oxc_sink_open(&s, path), 0);
	/* Until it is closed, the name does not exist: only the temp file. */
	ASSERT(access(path, F_OK) < 0);
	ASSERT_EQ(entries(d), 1);
	fprintf(s.f, "a;b 1\n");
	ASSERT_EQ(oxc_sink_close(&s), 0);
	ASSERT_STREQ(slurp(path), "a;b 1\n");
	ASSERT_EQ(entries(d), 1);
	/* Replacing keeps the old file's permissions; discarding keeps the
	 * old file itself. */
	ASSERT_EQ(chmod(path, 0640), 0);
	ASSERT_EQ(oxc_sink_open(&s, path), 0);
	fprintf(s.f, "half");
	oxc_sink_discard(&s);
	ASSERT_STREQ(slurp(path), "a;b 1\n");
	ASSERT_EQ(oxc_sink_open(&s, path), 0);
	fprintf(s.f, "c 2\n");
	ASSERT_EQ(oxc_sink_close(&s), 0);
	ASSERT_STREQ(slurp(path), "c 2\n");
	struct stat st;
	ASSERT_EQ(stat(path, &st), 0);
	ASSERT_EQ(st.st_mode & 0777, 0640);
	ASSERT_EQ(entries(d), 1);
	unlink(path);
	rmdir(d);
	free(d);
}

TEST(client_sink_refuses_before_writing)
{
	char *d = tmpdir(), path[512];
	struct oxc_sink s;
	snprintf(path, sizeof(path), "%s/missing/out.json", d);
	ASSERT_EQ(oxc_sink_open(&s, path), -ENOENT);
	ASSERT_EQ(oxc_sink_open(&s, d), -EISDIR);
	ASSERT_EQ(oxc_sink_open(&s, ""), -ENOENT);
	ASSERT_EQ(entries(d), 0);
	/* Closing a sink that never opened is harmless. */
	ASSERT_EQ(oxc_sink_close(&s), 0);
	rmdir(d);
	free(d);
}

TEST(client_sink_catches_enospc)
{
	/* /dev/full is written in place (not a regular file): every write
	 * fails with ENOSPC, and the sink says so at close, whatever the
	 * writer did not check. */
	struct oxc_sink s;
	ASSERT_EQ(oxc_sink_open(&s, "/dev/full"), 0);
	for (int i = 0; i < 10000; i++)
		fprintf(s.f, "stack;%d %d\n", i, i);
	ASSERT_EQ(oxc_sink_close(&s), -ENOSPC);
	/* Even one byte, lost only at the final flush. */
	ASSERT_EQ(oxc_sink_open(&s, "/dev/full"), 0);
	fputc('x', s.f);
	ASSERT_EQ(oxc_sink_close(&s), -ENOSPC);
}

TEST(client_report_write_dispatch)
{
	struct oxc_report r;
	oxc_report_init(&r, OXP_BY_STACK, OXP_SORT_SELF);
	oxc_report_add(&r, "main;f", 6, "m", 1, 1, 1, 3, 3);
	r.total = 3;
	FILE *f = fopen("/dev/null", "w");
	ASSERT(f);
	ASSERT_EQ(oxc_report_write(&r, OXC_FMT_FOLDED, f), 0);
	ASSERT_EQ(oxc_report_write(&r, OXC_FMT_JSON, f), 0);
	ASSERT_EQ(oxc_report_write(&r, OXC_FMT_TABLE, f), -EINVAL);
	ASSERT_EQ(oxc_report_format_by(OXC_FMT_FOLDED), OXP_BY_STACK);
	ASSERT_EQ(oxc_report_format_by(OXC_FMT_JSON), OXP_BY_FUNCTION);
	/* A format without a writer says so, and never writes. */
	for (int fmt = OXC_FMT_PPROF; fmt <= OXC_FMT_HTML; fmt++)
		if (!oxc_report_format_built(fmt))
			ASSERT_EQ(oxc_report_write(&r, fmt, f), -ENOSYS);
	fclose(f);
	oxc_report_destroy(&r);
}
