/* demangle.c - see demangle.h. */
#include <stdlib.h>
#include <string.h>

#include <libiberty/demangle.h>

#include "demangle.h"
#include "ox/xalloc.h"

char *oxc_demangle(const char *name)
{
	/* Only what looks mangled goes to the demangler: "_Z..." (C++ and
	 * Rust legacy), "_R..." (Rust v0).  A C name like "main" stays. */
	if (name[0] != '_' || (name[1] != 'Z' && name[1] != 'R'))
		return NULL;
	/* DMGL_AUTO tries every style libiberty knows (gnu-v3, Rust);
	 * libiberty bounds its own recursion on hostile input. */
	return cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_AUTO);
}

/* Append s[0..n) to *out (len, cap), replacing ';' with ':'. */
static void put(char **out, size_t *len, size_t *cap, const char *s, size_t n, int clean)
{
	if (*cap - *len < n + 2) {
		while (*cap - *len < n + 2)
			*cap = *cap ? *cap * 2 : 256;
		*out = ox_xrealloc(*out, *cap);
	}
	for (size_t i = 0; i < n; i++)
		(*out)[(*len)++] = clean && s[i] == ';' ? ':' : s[i];
	(*out)[*len] = 0;
}

char *oxc_demangle_folded(const char *stack)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	int changed = 0;
	for (const char *p = stack;;) {
		const char *end = strchr(p, ';');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char *frame = ox_xstrndup(p, n);
		char *d = oxc_demangle(frame);
		if (d) {
			changed = 1;
			put(&out, &len, &cap, d, strlen(d), 1);
		} else {
			put(&out, &len, &cap, frame, n, 0);
		}
		free(d);
		free(frame);
		if (!end)
			break;
		put(&out, &len, &cap, ";", 1, 0);
		p = end + 1;
	}
	if (!changed) {
		free(out);
		return NULL;
	}
	return out;
}
