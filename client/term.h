/*
 * term.h - what the terminal oxprofctl writes to allows: its width and
 * whether to use bold.
 */
#ifndef OXC_TERM_H
#define OXC_TERM_H

#include <stdio.h>

/*
 * Columns to fit a table in when writing to f: 0 (no limit) when wide is
 * set or f is not a terminal, else the terminal's width (TIOCGWINSZ, then
 * $COLUMNS, then 80).
 */
int oxc_out_width(FILE *f, int wide);
/* Whether to use bold/colour on f: a terminal, NO_COLOR unset, TERM not dumb. */
int oxc_out_color(FILE *f);

#endif
