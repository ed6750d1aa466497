/* output.c - stand-alone output: the lifetime table as folded stacks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "ox/io.h"

/* One "root;...;leaf count\n" line into buf; returns its length, or 0 when
 * it does not fit (the stack is cut from the root side). */
static size_t fold(struct oxa_agent *a, const struct oxa_stack_ent *e, char *buf, size_t len)
{
	const uintptr_t *ips = oxa_stacks_ips(&a->lifetime, e);
	size_t off = 0;
	for (int i = e->nframes - 1; i >= 0; i--) {
		uint32_t id;
		if (oxa_frames_id(&a->frames, ips[i], i > 0, &id) < 0)
			return 0;
		const char *name = a->strs.strs[a->frames.v[id].func];
		int n = snprintf(buf + off, len - off, "%s%s", off ? ";" : "", name);
		if (n < 0 || (size_t)n >= len - off - 24)
			return 0;
		off += (size_t)n;
	}
	if (!e->nframes)
		off = (size_t)snprintf(buf, len, "[no frames]");
	int n = snprintf(buf + off, len - off, " %u\n", e->pending);
	return n < 0 ? 0 : off + (size_t)n;
}

/* Symbolise the frames of stacks seen since the last call, while the code
 * (and a JIT's /tmp/perf-PID.map) still exists: a profile written at exit
 * would be too late for code that is gone by then. */
int oxa_output_resolve(struct oxa_agent *a)
{
	for (size_t i = 0; i < a->lifetime.nents; i++) {
		struct oxa_stack_ent *e = &a->lifetime.ents[i];
		const uintptr_t *ips = oxa_stacks_ips(&a->lifetime, e);
		for (uint16_t j = 0; !e->resolved && j < e->nframes; j++) {
			uint32_t id;
			int r = oxa_frames_id(&a->frames, ips[j], j > 0, &id);
			if (r < 0)
				return r;
		}
		e->resolved = 1;
	}
	return 0;
}

struct line {
	char *text;           /* "root;...;leaf", no count */
	uint64_t count;
};

struct lines {
	struct line *v;
	size_t n, cap;
};

static int add_line(struct lines *l, const char *text, size_t len, uint64_t count)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct line *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if (!(l->v[l->n].text = strndup(text, len)))
		return -ENOMEM;
	l->v[l->n++].count = count;
	return 0;
}

static int by_text(const void *x, const void *y)
{
	return strcmp(((const struct line *)x)->text, ((const struct line *)y)->text);
}

/* The lines of a folded profile in buf[0..len) ("text count" each); what
 * does not parse is skipped. */
static int add_folded(struct lines *l, const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eol = nl ? nl : end;
		const char *sp = eol;
		while (sp > p && sp[-1] != ' ')
			sp--;
		uint64_t c = 0;
		int digits = 0;
		for (const char *q = sp; q < eol && *q >= '0' && *q <= '9' && digits < 19; q++, digits++)
			c = c * 10 + (uint64_t)(*q - '0');
		if (sp > p + 1 && digits && sp + digits == eol && add_line(l, p, (size_t)(sp - 1 - p), c) < 0)
			return -ENOMEM;
		p = eol + 1;
	}
	return 0;
}

/* Distinct pcs in one function fold to the same text: merge those lines
 * (and those of a profile merged in), so each stack appears once with its
 * whole count. */
int oxa_output_folded_merge(struct oxa_agent *a, int fd, const char *other, size_t olen)
{
	static char buf[65536];
	struct lines l = { 0 };
	int r = 0;
	for (size_t i = 0; i < a->lifetime.nents && r == 0; i++) {
		size_t len = fold(a, &a->lifetime.ents[i], buf, sizeof(buf));
		char *sp = len ? strrchr(buf, ' ') : NULL;
		if (sp)
			r = add_line(&l, buf, (size_t)(sp - buf), a->lifetime.ents[i].pending);
	}
	if (r == 0 && other)
		r = add_folded(&l, other, olen);
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), by_text);
	for (size_t i = 0; i < l.n && r == 0; i++) {
		if (i + 1 < l.n && !strcmp(l.v[i].text, l.v[i + 1].text)) {
			l.v[i + 1].count += l.v[i].count;
			continue;
		}
		int m = snprintf(buf, sizeof(buf), "%s %llu\n", l.v[i].text,
				 (unsigned long long)l.v[i].count);
		if (m > 0 && (size_t)m < sizeof(buf))
			r = ox_write_all(fd, buf, (size_t)m);
	}
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].text);
	free(l.v);
	return r;
}

int oxa_output_folded(struct oxa_agent *a, int fd)
{
	return oxa_output_folded_merge(a, fd, NULL, 0);
}

/* An existing profile we may add to: a regular file of ours, written since
 * this process started (by another process of the same run: a wrapper's
 * child, a forked worker), of bounded size.  Older files are a previous
 * run's and are replaced.  The coarse file clock may lag ours by a tick. */
static int fresh_profile(struct oxa_agent *a, const struct stat *st)
{
	int64_t m = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
	int64_t s = (int64_t)a->started_at.tv_sec * 1000 + a->started_at.tv_nsec / 1000000;
	return S_ISREG(st->st_mode) && st->st_uid == geteuid() && st->st_size <= OXA_OUTPUT_MERGE_MAX &&
	       m + 20 >= s;
}

/* What is at path when it is a profile to merge with: 1 and its text in
 * *buf (caller frees), 0 when there is none to merge, -errno. */
static int read_fresh(struct oxa_agent *a, const char *path, char **buf, size_t *len)
{
	struct stat st;
	struct oxa_fdid id;
	*buf = NULL;
	*len = 0;
	if (lstat(path, &st) < 0 || !fresh_profile(a, &st))
		return 0;
	int fd = oxa_fd_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0, &id);
	if (fd < 0)
		return 0;
	int r = 0;
	ssize_t n = 0;
	if (fstat(fd, &st) == 0 && fresh_profile(a, &st)) {
		*buf = malloc((size_t)st.st_size + 1);
		r = !*buf ? -ENOMEM : (n = pread(fd, *buf, (size_t)st.st_size, 0)) < 0 ? -errno : 1;
	}
	oxa_fd_close(fd, &id);
	if (r < 1) {
		free(*buf);
		*buf = NULL;
		return r;
	}
	*len = (size_t)n;
	return 1;
}

/*
 * A new file beside path with an unpredictable name, created exclusively
 * and never through a symlink: in a shared directory (/tmp) another user
 * can plant anything at a name we would choose predictably.  Returns the fd
 * (name in tmp) or -errno.
 */
static int create_temp(const char *path, char *tmp, size_t len, struct oxa_fdid *id)
{
	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash + 1 - path) : 0;
	for (int tries = 0; tries < 32; tries++) {
		uint64_t rnd;
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd = (uint64_t)ox_mono_ms() * 6364136223846793005ull ^ (uint64_t)getpid() << 32 ^
			      (uint64_t)tries;
		if (snprintf(tmp, len, "%.*s.%s.%016llx.tmp", dirlen, path, path + dirlen,
			     (unsigned long long)rnd) >= (int)len)
			return -ENAMETOOLONG;
		int fd = oxa_fd_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY, 0644, id);
		if (fd != -EEXIST)
			return fd;
	}
	return -EEXIST;
}

/* Hold the directory's flock while reading, merging and renaming, so two
 * processes of one run finishing together both count.  Bounded: a lock
 * someone else holds forever costs us a second, then we go on without. */
static int lock_dir(const char *path, struct oxa_fdid *id)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path) + (slash == path), path) >=
		 (int)sizeof(dir))
		return -1;
	int fd = oxa_fd_open(dir, O_RDONLY | O_DIRECTORY, 0, id);
	for (int i = 0; fd >= 0 && i < 100; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		usleep(10000);
	}
	oxa_fd_close(fd, id);
	return -1;
}

int oxa_output_write(struct oxa_agent *a, const char *path)
{
	char tmp[4200];
	char *old = NULL;
	size_t olen = 0;
	struct oxa_fdid lock_id, id;
	int lock = lock_dir(path, &lock_id);
	int r = read_fresh(a, path, &old, &olen);
	if (r == 1 && a->lifetime.nents == 0) {
		r = 0; /* nothing to add to what is there */
		goto out;
	}
	int fd = r < 0 ? r : create_temp(path, tmp, sizeof(tmp), &id);
	if (fd < 0) {
		r = fd;
		goto out;
	}
	r = oxa_output_folded_merge(a, fd, old, olen);
	/* Not ours any more: the host closed it, what we wrote is lost. */
	if (!oxa_fd_ours(fd, &id) && r == 0)
		r = -EBADF;
	else if (close(fd) < 0 && r == 0)
		r = -errno;
	/* rename replaces whatever is at path - a symlink included - and
	 * never writes through it. */
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
out:
	free(old);
	oxa_fd_close(lock, &lock_id);
	return r;
}
