/* output.c - stand-alone output: the lifetime table as folded stacks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One "root;...;leaf count\n" line into buf; returns its length, or 0 when
 * it does not fit (the stack is cut from the root side). */
static size_t fold(struct oxa_agent *a, const struct oxa_stack_ent *e, char *buf, size_t len)
{
	const uintptr_t *ips = oxa_stacks_ips(&a->lifetime, e);
	size_t off = 0;
	for (int i = e->nframes - 1; i >= 0; i--) {
		uint32_t id;
		if (oxa_frames_id(&a->frames, ips[i], &id) < 0)
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
			int r = oxa_frames_id(&a->frames, ips[j], &id);
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

static int by_text(const void *x, const void *y)
{
	return strcmp(((const struct line *)x)->text, ((const struct line *)y)->text);
}

/* Distinct pcs in one function fold to the same text: merge those lines,
 * so each stack appears once with its whole count. */
int oxa_output_folded(struct oxa_agent *a, int fd)
{
	static char buf[65536];
	size_t n = a->lifetime.nents, k = 0;
	struct line *v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t len = fold(a, &a->lifetime.ents[i], buf, sizeof(buf));
		char *sp = len ? strrchr(buf, ' ') : NULL;
		if (!sp)
			continue;
		*sp = 0;
		if (!(v[k].text = strdup(buf)))
			break;
		v[k++].count = a->lifetime.ents[i].pending;
	}
	qsort(v, k, sizeof(*v), by_text);
	int r = 0;
	for (size_t i = 0; i < k; i++) {
		if (i + 1 < k && !strcmp(v[i].text, v[i + 1].text)) {
			v[i + 1].count += v[i].count;
			continue;
		}
		int m = snprintf(buf, sizeof(buf), "%s %llu\n", v[i].text,
				 (unsigned long long)v[i].count);
		if (r == 0 && m > 0 && (size_t)m < sizeof(buf))
			r = write_all(fd, buf, (size_t)m);
	}
	for (size_t i = 0; i < k; i++)
		free(v[i].text);
	free(v);
	return r;
}
