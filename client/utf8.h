/*
 * utf8.h - the UTF-8 oxprofctl needs: which bytes are a valid sequence (so
 * JSON output can replace the rest) and how many columns a string takes.
 * Names from the daemon are whatever bytes a process had, not always UTF-8.
 */
#ifndef OXC_UTF8_H
#define OXC_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4; left bytes remain), or 0
 * if it is invalid: overlong, a surrogate, past U+10FFFF, or cut short. */
size_t oxc_u8seq(const unsigned char *s, size_t left);
/* Display width of a UTF-8 string: one column per code point. */
size_t oxc_u8width(const char *s);

#endif
