/* strtab.c - see strtab.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oxp/protocol.h"
#include "strtab.h"

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

int oxa_strtab_init(struct oxa_strtab *t)
{
	memset(t, 0, sizeof(*t));
	t->index_mask = 1023;
	t->index = calloc(t->index_mask + 1, sizeof(*t->index));
	return t->index ? 0 : -ENOMEM;
}

void oxa_strtab_destroy(struct oxa_strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->strs[i]);
	free(t->strs);
	free(t->lens);
	free(t->index);
	memset(t, 0, sizeof(*t));
}

static size_t slot_of(const struct oxa_strtab *t, const char *s, size_t len)
{
	size_t i = (size_t)hash_bytes(s, len) & t->index_mask;
	while (t->index[i]) {
		uint32_t id = t->index[i] - 1;
		if (t->lens[id] == len && memcmp(t->strs[id], s, len) == 0)
			break;
		i = (i + 1) & t->index_mask;
	}
	return i;
}

static int grow_index(struct oxa_strtab *t)
{
	size_t slots = (t->index_mask + 1) * 2;
	uint32_t *idx = calloc(slots, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	free(t->index);
	t->index = idx;
	t->index_mask = slots - 1;
	for (size_t id = 0; id < t->n; id++)
		t->index[slot_of(t, t->strs[id], t->lens[id])] = (uint32_t)id + 1;
	return 0;
}

static int grow_arrays(struct oxa_strtab *t)
{
	size_t cap = t->cap ? t->cap * 2 : 256;
	char **s = realloc(t->strs, cap * sizeof(*s));
	if (!s)
		return -ENOMEM;
	t->strs = s;
	uint32_t *l = realloc(t->lens, cap * sizeof(*l));
	if (!l)
		return -ENOMEM;
	t->lens = l;
	t->cap = cap;
	return 0;
}

int oxa_strtab_intern(struct oxa_strtab *t, const char *s, size_t len, uint32_t *id)
{
	if (len > OXP_MAX_NAME)
		len = OXP_MAX_NAME;
	size_t i = slot_of(t, s, len);
	if (t->index[i]) {
		*id = t->index[i] - 1;
		return 0;
	}
	if (t->n == t->cap && grow_arrays(t) < 0)
		return -ENOMEM;
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, s, len);
	copy[len] = 0;
	t->strs[t->n] = copy;
	t->lens[t->n] = (uint32_t)len;
	t->index[i] = (uint32_t)t->n + 1;
	*id = (uint32_t)t->n++;
	if (t->n * 2 > t->index_mask)
		return grow_index(t);
	return 0;
}
