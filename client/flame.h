/*
 * flame.h - the interactive flame graph: one self-contained HTML page
 * (client/flame/page.html + page.js, built into the binary) with the
 * profile embedded as data.
 *
 * The stacks are merged into a call tree here, in C, and embedded as a
 * string table plus the tree in pre-order (name id, depth step, self count
 * per node, as one string of 5-bit digits: see put_var in flame.c), so the
 * page only sums totals and draws: shared prefixes are sent once, which
 * keeps the file small and the page quick on big profiles.
 * The data goes inside <script type="application/json"> with '<', '>' and
 * '&' escaped and bytes that are not UTF-8 replaced, so no name, however
 * hostile, can end the script element or break the JSON; the page writes
 * names only as text (textContent, canvas), never as markup.
 */
#ifndef OXC_FLAME_H
#define OXC_FLAME_H

#include <stdint.h>
#include <stdio.h>

#include "ctl.h"
#include "report.h"

#define OXC_FLAME_MAX_FACTS 12

/* A line of the page's header, e.g. { "Samples", "12345" }. */
struct oxc_flame_fact {
	char label[32];
	char value[480];
};

struct oxc_flame {
	const char *title;              /* the page's title; NULL: a default */
	const struct oxc_report *stacks; /* rows by stack: "root;...;leaf", self */
	const struct oxc_report *funcs; /* by function, for each name's module;
					   may be NULL */
	uint32_t nfacts;
	struct oxc_flame_fact facts[OXC_FLAME_MAX_FACTS];
};

/* Add a header line (silently ignored past OXC_FLAME_MAX_FACTS). */
__attribute__((format(printf, 3, 4)))
void oxc_flame_fact(struct oxc_flame *p, const char *label, const char *fmt, ...);

/* Write the page to f.  0, or -EIO when a write failed (f's error flag is
 * set; errno may say more). */
int oxc_flame_write(const struct oxc_flame *p, FILE *f);

/*
 * Everything a page needs from the daemon, then the page: query (a QUERY
 * whose selector says which samples) is run by stack, by function and by
 * process, then STATUS gives the sampling facts of those processes (rate,
 * source, drops).  0, an error from oxc_ctl_command (c->err says why), or
 * -EIO when writing f failed (c->err says so).
 */
int oxc_flame_fetch_write(struct oxc_ctl *c, const struct oxp_command *query,
			  const char *title, FILE *f);

#endif
