/*
 * snapshot.c - finding and loading the newest good snapshot in the state
 * dir (the current file, else the previous one), setting a refused file
 * aside, and removing what an interrupted write left.
 */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snapfmt.h"
#include "ox/io.h"
#include "ox/xalloc.h"

/* A file the loader refused is kept for a person to look at, under a
 * name no later write or load touches. */
static void set_aside(const char *path)
{
	char bad[1300];
	snprintf(bad, sizeof(bad), "%s.bad", path);
	if (rename(path, bad) == 0)
		oxd_err("snapshot %s kept as %s; starting without it", path, bad);
	else
		oxd_err("snapshot %s: cannot rename it to %s: %s", path, bad, strerror(errno));
}

/* 1 loaded, 0 not. */
static int load_file(struct oxd_agg *a, const char *path)
{
	/* Not a link, and never blocked by a FIFO put in its place. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno != ENOENT)
			oxd_warn("snapshot %s: %s; skipped", path, strerror(errno));
		return 0;
	}
	struct stat st;
	uint8_t *buf = NULL;
	char why[200] = "";
	int refused = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, sizeof(why), "not a regular file");
	} else {
		buf = ox_xmalloc((size_t)st.st_size + 1);
		ssize_t got = ox_read_full(fd, buf, (size_t)st.st_size);
		if (got != (ssize_t)st.st_size)
			snprintf(why, sizeof(why), "read error");
		struct oxd_agg tmp;
		oxd_agg_init(&tmp, a->mem_budget, a->proc_budget);
		if (!why[0])
			refused = oxd_snapshot_parse(&tmp, buf, got, why, sizeof(why)) < 0;
		if (!why[0]) {
			oxd_agg_destroy(a);
			*a = tmp;
		} else {
			oxd_agg_destroy(&tmp);
		}
	}
	close(fd);
	free(buf);
	if (why[0])
		oxd_err("snapshot %s is unusable (%s); skipped", path, why);
	if (refused)
		set_aside(path);
	return !why[0];
}

/* Temp files of writes that a crash interrupted. */
static void remove_temps(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	char path[1400];
	while ((e = readdir(d)))
		if (strncmp(e->d_name, NAME ".tmp.", sizeof(NAME ".tmp.") - 1) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			if (unlink(path) == 0)
				oxd_notice("removed %s, left by an interrupted snapshot write", path);
		}
	closedir(d);
}

int oxd_snapshot_load(struct oxd_agg *a, const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		oxd_warn("state dir %s: %s", dir, strerror(errno));
	remove_temps(dir);
	char cur[1200], prev[1200];
	snprintf(cur, sizeof(cur), "%s/" NAME, dir);
	snprintf(prev, sizeof(prev), "%s/" NAME ".prev", dir);
	if (load_file(a, cur) || load_file(a, prev)) {
		oxd_info("snapshot loaded: %llu samples, %zu processes, %zu stacks",
			 (unsigned long long)a->samples, a->nprocs, a->nstacks);
		return 1;
	}
	return 0;
}
