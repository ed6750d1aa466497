/* table.c - aligned text tables; see table.h. */
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "utf8.h"
#include "ox/xalloc.h"

struct oxc_table {
	int ncols;
	char align[16];
	char **titles;
	size_t nrows, cap;
	char **cells; /* nrows * ncols */
};

struct oxc_table *oxc_table_new(int ncols, const char *const *titles, const char *align)
{
	struct oxc_table *t = ox_xcalloc(1, sizeof(*t));
	t->ncols = ncols < 16 ? ncols : 15;
	t->titles = ox_xcalloc((size_t)t->ncols, sizeof(char *));
	for (int i = 0; i < t->ncols; i++) {
		t->titles[i] = ox_xstrdup(titles[i]);
		t->align[i] = align[i] == 'r' ? 'r' : 'l';
	}
	return t;
}

void oxc_table_free(struct oxc_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * (size_t)t->ncols; i++)
		free(t->cells[i]);
	for (int i = 0; i < t->ncols; i++)
		free(t->titles[i]);
	free(t->cells);
	free(t->titles);
	free(t);
}

void oxc_table_add(struct oxc_table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 32;
		t->cells = ox_xrealloc(t->cells, t->cap * (size_t)t->ncols * sizeof(char *));
	}
	for (int i = 0; i < t->ncols; i++) {
		char *c = ox_xstrdup(cells[i] ? cells[i] : "");
		/* A newline or escape in a name (an exe path can hold anything)
		 * must not break the layout or drive the terminal. */
		for (char *p = c; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = c;
	}
	t->nrows++;
}

/* Narrowest a left-aligned column may become when the table must shrink. */
#define MIN_FLEX 12
#define GAP 2

/* Shrink the widest shrinkable column, one column at a time, until the
 * table fits width or nothing can shrink any more. */
static void fit(const struct oxc_table *t, size_t *w, int width)
{
	size_t sum = 0;
	for (int i = 0; i < t->ncols; i++)
		sum += w[i] + (i ? GAP : 0);
	while (width > 0 && sum > (size_t)width) {
		int best = -1;
		for (int i = 0; i < t->ncols; i++)
			if (t->align[i] == 'l' && w[i] > MIN_FLEX && (best < 0 || w[i] > w[best]))
				best = i;
		if (best < 0)
			return;
		w[best]--;
		sum--;
	}
}

/* Write s padded or truncated to exactly w columns (no padding if last). */
static void cell(FILE *f, const char *s, size_t w, char align, int last)
{
	size_t sw = oxc_u8width(s);
	if (sw > w) {
		/* Cut at a code point boundary, leaving room for "...". */
		size_t keep = w > 3 ? w - 3 : 0, cols = 0;
		const char *p = s;
		while (*p && cols < keep) {
			p++;
			while (((unsigned char)*p & 0xc0) == 0x80)
				p++;
			cols++;
		}
		fwrite(s, 1, (size_t)(p - s), f);
		fputs(&"..."[3 - (w - cols < 3 ? w - cols : 3)], f);
		return;
	}
	if (align == 'r')
		fprintf(f, "%*s%s", (int)(w - sw), "", s);
	else if (last)
		fputs(s, f);
	else
		fprintf(f, "%s%*s", s, (int)(w - sw), "");
}

static void line(FILE *f, const struct oxc_table *t, char *const *cells, const size_t *w,
		 int bold)
{
	if (bold)
		fputs("\033[1m", f);
	for (int i = 0; i < t->ncols; i++) {
		if (i)
			fprintf(f, "%*s", GAP, "");
		cell(f, cells[i], w[i], t->align[i], i == t->ncols - 1);
	}
	fputs(bold ? "\033[0m\n" : "\n", f);
}

void oxc_table_print(const struct oxc_table *t, FILE *f, int width, int bold)
{
	size_t w[16] = { 0 };
	for (int i = 0; i < t->ncols; i++) {
		w[i] = oxc_u8width(t->titles[i]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t cw = oxc_u8width(t->cells[r * (size_t)t->ncols + (size_t)i]);
			if (cw > w[i])
				w[i] = cw;
		}
	}
	fit(t, w, width);
	line(f, t, t->titles, w, bold);
	for (size_t r = 0; r < t->nrows; r++)
		line(f, t, &t->cells[r * (size_t)t->ncols], w, 0);
}
