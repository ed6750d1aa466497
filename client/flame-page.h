/*
 * flame-page.h - the flame graph page (client/flame/page.html with page.js
 * inside), cut where the data goes: write head, the JSON data, then tail.
 * Generated at build time by client/flame/embed.cmake.
 */
#ifndef OXC_FLAME_PAGE_H
#define OXC_FLAME_PAGE_H

#include <stddef.h>

extern const char oxc_flame_page_head[];
extern const size_t oxc_flame_page_head_len;
extern const char oxc_flame_page_tail[];
extern const size_t oxc_flame_page_tail_len;

#endif
