/*
 * strtab.h - interned strings with dense ids, for symbol, module and
 * thread names.  Ids are stable for the life of the table.  Drain thread
 * only.
 */
#ifndef OXA_STRTAB_H
#define OXA_STRTAB_H

#include <stddef.h>
#include <stdint.h>

#include "ox/index.h"

struct oxa_strtab {
	char **strs;          /* id -> NUL-terminated copy */
	uint32_t *lens;
	size_t n, cap;
	struct ox_index index;
};

/* An empty table (allocates nothing until the first string).  0. */
int oxa_strtab_init(struct oxa_strtab *t);
void oxa_strtab_destroy(struct oxa_strtab *t);
/* The id of s[0..len), adding it if new (truncated to OXP_MAX_NAME bytes).
 * 0 or -ENOMEM. */
int oxa_strtab_intern(struct oxa_strtab *t, const char *s, size_t len, uint32_t *id);

#endif
