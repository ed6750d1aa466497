/*
 * format.h - numbers for people: shares, durations, sizes, times.  Each
 * writes into a caller's buffer of len bytes.
 */
#ifndef OXC_FORMAT_H
#define OXC_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* "12.3%", share of whole (0 when whole is 0). */
void oxc_fmt_pct(char *buf, size_t len, uint64_t part, uint64_t whole);
/* "850 ms", "12.3 s", "4m 05s", "2h 03m", "3d 04h". */
void oxc_fmt_duration(char *buf, size_t len, uint64_t ms);
/* "512 B", "1.5 KiB", "12.0 MiB". */
void oxc_fmt_bytes(char *buf, size_t len, uint64_t bytes);
/* Local time of Unix ms: "2025-11-24 16:53:01". */
void oxc_fmt_time(char *buf, size_t len, uint64_t unix_ms);

#endif
