/*
 * table.h - aligned text tables for the terminal: the text form of
 * status, query and record.
 */
#ifndef OXC_TABLE_H
#define OXC_TABLE_H

#include <stdio.h>

/*
 * A text table: cells are copied in, widths computed at print time.  align
 * has one letter per column, 'l' or 'r'.  Left-aligned columns may be
 * truncated (with "...") to fit a width; numbers never are.
 */
struct oxc_table;

struct oxc_table *oxc_table_new(int ncols, const char *const *titles, const char *align);
void oxc_table_free(struct oxc_table *t);
void oxc_table_add(struct oxc_table *t, const char *const *cells);
/* width 0: no limit.  bold: embolden the header (terminals only). */
void oxc_table_print(const struct oxc_table *t, FILE *f, int width, int bold);

#endif
