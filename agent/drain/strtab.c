/* strtab.c - see strtab.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "oxp/protocol.h"
#include "strtab.h"

struct key {
	const char *s;
	size_t len;
};

static uint32_t str_hash(const void *tab, uint32_t id)
{
	const struct oxa_strtab *t = tab;
	return ox_hash_bytes(t->strs[id], t->lens[id]);
}

static int str_eq(const void *tab, uint32_t id, const void *key)
{
	const struct oxa_strtab *t = tab;
	const struct key *k = key;
	return t->lens[id] == k->len && memcmp(t->strs[id], k->s, k->len) == 0;
}

int oxa_strtab_init(struct oxa_strtab *t)
{
	memset(t, 0, sizeof(*t));
	return 0;
}

void oxa_strtab_destroy(struct oxa_strtab *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->strs[i]);
	free(t->strs);
	free(t->lens);
	ox_index_destroy(&t->index);
	memset(t, 0, sizeof(*t));
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
	if (ox_index_reserve(&t->index, str_hash, t) < 0)
		return -ENOMEM;
	struct key k = { s, len };
	uint32_t *slot = ox_index_find(&t->index, ox_hash_bytes(s, len), str_eq, t, &k);
	if (*slot) {
		*id = *slot - 1;
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
	*id = ox_index_add(&t->index, slot, (uint32_t)t->n++);
	return 0;
}
