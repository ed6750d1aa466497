/*
 * snapshot.h - the aggregate on disk, so a restart loses seconds, not the
 * profile.  DIR/oxprofd.snap is replaced atomically (temp file, fsync,
 * rename, fsync of the directory); the one it replaces stays as
 * DIR/oxprofd.snap.prev.  The file has a magic, a format version, its
 * length and a CRC-32 of header and payload.
 */
#ifndef OXD_SNAPSHOT_H
#define OXD_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "agg.h"

/* Bytes of the header before the payload. */
#define OXD_SNAPSHOT_HDR 32

/* Write a snapshot of a into dir.  0 or -errno; *bytes gets the size. */
int oxd_snapshot_write(const struct oxd_agg *a, const char *dir, uint64_t *bytes);

/*
 * Load the newest good snapshot in dir into a (which must be empty): the
 * current file, else the previous one.  A file that is damaged or holds a
 * value a daemon could not have held (an id, mode, rate or count out of
 * range, totals that do not add up) is logged, renamed to FILE.bad and
 * skipped; a missing or unreadable one is skipped.  Returns 1 loaded, 0
 * nothing usable.  Creates dir (0700) if needed and removes temp files a
 * crash left.
 */
int oxd_snapshot_load(struct oxd_agg *a, const char *dir);

/*
 * Parse a whole snapshot file image into a (fresh from oxd_agg_init).  0,
 * or -EBADMSG with the reason in why; a is then half-filled and only fit
 * for oxd_agg_destroy.  For the loader and the fuzzer.
 */
int oxd_snapshot_parse(struct oxd_agg *a, const uint8_t *buf, size_t len, char *why,
		       size_t whylen);

/* The header (OXD_SNAPSHOT_HDR bytes) that makes payload a well-formed
 * file of the current format, checksums included: for the fuzzer, which
 * must get past them to reach the values. */
void oxd_snapshot_header(uint8_t *hdr, const uint8_t *payload, size_t len);

#endif
