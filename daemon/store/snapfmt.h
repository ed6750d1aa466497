/*
 * snapfmt.h - the snapshot file's format, shared by its writer
 * (snapwrite.c) and its parser (snapparse.c).
 *
 * Layout, little-endian:
 *   header (32 bytes): magic "OXPDSNAP", u32 format version, u32 reserved,
 *     u64 payload length, u32 CRC-32 of the payload, u32 CRC-32 of the
 *     first 28 header bytes;
 *   payload: u64 samples, u64 dropped, u64 written_ms;
 *     u32 n, strings [u32 len, bytes];
 *     u32 n, frames [u32 func, u32 module, u64 offset];
 *     u32 n, processes [see put_proc];
 *     u32 n, threads [u32 proc, u32 tid, u32 name];
 *     u32 n, stacks [u32 nframes, u32 frame...];
 *     u64 n, entries [u32 thread, u32 stack, u64 count];
 *     (format 3) u32 n, agent instances [u32 proc, u64 instance, u64 seq]:
 *     the highest batch seq of that agent instance the file holds, which
 *     the agent learns when it reconnects (PROTOCOL.md, DURABLE);
 *     (format 4) u32 n, process CPU times [u32 proc, u32 cpu_covers, u64
 *     cpu_user_ms, cpu_sys_ms, sampled_user_ms, sampled_sys_ms,
 *     base_user_ms, base_sys_ms] (agg.h);
 *     (format 4) u32 n, modules [u32 module string, u32 build-id string
 *     (UINT32_MAX none), u64 load]: the GNU build-id and the link-time
 *     address of file offset 0 agents reported for a module path (pprof);
 *     (format 4) u32 n, lineage [u32 proc, u32 ppid, u64 exited_ms]: each
 *     process's parent when it joined and when its agent left (0 unknown,
 *     still connected), for rows where either is known;
 *     (format 5) the time slots (agg.h): u32 n, slots [u32 start, u32
 *     width] (Unix s, sorted, disjoint); u64 n, cells [u32 slot, u32 entry
 *     (index in the entries above), u64 count]; u64 merged, dropped slots,
 *     dropped samples.  Samples of an older format are in no slot: they
 *     count as dropped from the history.
 * Loading checks every length and id against what was read before it and
 * every value against what a live daemon can hold (see "reading"), so a
 * damaged or crafted file is refused as a whole, never half-loaded, and
 * kept aside as NAME.bad.
 */
#ifndef OXD_SNAPFMT_H
#define OXD_SNAPFMT_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#define MAGIC "OXPDSNAP"
#define FORMAT 5
#define FORMAT_OLDEST 2 /* no agent instances */
#define HDR OXD_SNAPSHOT_HDR /* snapshot.h, included first */
#define NAME "oxprofd.snap"

/* CRC-32 (IEEE) from zlib, chained across writes like zlib's crc32. */
static inline uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
	return (uint32_t)crc32_z(crc, p, n);
}

#endif
