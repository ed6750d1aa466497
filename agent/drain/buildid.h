/*
 * buildid.h - a loaded module's GNU build-id, read from its notes as the
 * loader mapped them (drain thread only).
 */
#ifndef OXA_BUILDID_H
#define OXA_BUILDID_H

#include <link.h>
#include <stddef.h>

/*
 * The NT_GNU_BUILD_ID of the module info describes, as lower-case hex into
 * hex[0..len) (NUL-terminated; len >= 2 * OXP_MAX_BUILD_ID + 1).  Returns
 * the number of hex digits, or 0 when the module has none we can read.
 *
 * Why memory and not the file: the image in memory is what ran; the file
 * at the module's path may have been replaced since (a package upgrade).
 * Only notes inside a readable PT_LOAD segment are read, so every byte
 * looked at is mapped; every length is checked against the segment.
 */
size_t oxa_buildid_read(const struct dl_phdr_info *info, char *hex, size_t len);

/* The link-time address of the module's file offset 0: the first PT_LOAD's
 * p_vaddr - p_offset (0 for a PIE or shared library, 0x400000 for a
 * classic executable), which a symboliser needs to map an offset from the
 * load bias back into the file (pprof mappings). */
uint64_t oxa_buildid_load(const struct dl_phdr_info *info);

#endif
