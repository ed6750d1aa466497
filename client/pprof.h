/*
 * pprof.h - a profile as pprof's profile.proto (gzip-compressed), laid out
 * as Go's own CPU profiles are, for `go tool pprof`, Parca and Pyroscope.
 *
 * The data is a by=frames query (PROTOCOL.md): one row per thread and
 * stack, with each frame's function, module and offset, and each module's
 * GNU build-id.  The file has:
 *   sample_type  [samples/count, cpu/nanoseconds] (wall: wall/nanoseconds),
 *   period_type  cpu|wall/nanoseconds, period 1e9/hz;
 *   time_nanos   first sample's batch, duration_nanos the span;
 *   one Mapping per module (path, build-id), one Location per frame, one
 *   Function per symbol (name demangled unless asked not to, system_name
 *   as the agent reported it); unresolved frames keep only their address;
 *   sample labels pid and tid (numbers, so -tagfocus=pid=N works), thread
 *   and exe (strings).
 * Addresses: each module gets a mapping [start, limit) of its own, with
 * file_offset 0, and a frame's address is start + offset - load, where
 * offset is the pc minus the module's load bias (its link-time address)
 * and load the link-time address of the module's file offset 0 (0 for a
 * PIE or shared library, 0x400000 for a classic executable; the agent
 * reports it).  pprof maps an address back into the file as
 * address - start + file_offset, then to a link-time address through the
 * program headers: this layout makes that land on offset.
 * Frames outside any module ([anon], [jit]) get a mapping of their own too,
 * with their absolute pc as the offset.  Mappings with an unresolved frame
 * say has_functions = false, so a symboliser (pprof's own, given the
 * binary by path or build-id) may name those addresses later.
 */
#ifndef OXC_PPROF_H
#define OXC_PPROF_H

#include <stdint.h>
#include <stdio.h>

#include "ctl.h"

struct oxc_pprof;

struct oxc_pprof *oxc_pprof_new(void);
void oxc_pprof_free(struct oxc_pprof *p);

/* Run cmd as a by=frames QUERY on c and collect the answer.  0, or the
 * error of oxc_ctl_command (c->err says why). */
int oxc_pprof_fetch(struct oxc_pprof *p, struct oxc_ctl *c, const struct oxp_command *cmd);
/* Collect one QUERY_HEAD or QUERY_ROWS message (others are ignored):
 * fetch's callback, and the way tests and benchmarks feed data.  0, or
 * -EPROTO for a row naming a frame never defined. */
int oxc_pprof_add(struct oxc_pprof *p, const struct oxp_msg *m);

struct oxc_pprof_opts {
	int mode;               /* enum oxp_mode */
	uint32_t hz;            /* sampling rate; 0 counts as 100 */
	int no_demangle;        /* Function.name as reported */
	int level;              /* gzip level; 0 = 1 (fast, as Go writes) */
};

/* Facts about a file written. */
struct oxc_pprof_info {
	uint64_t samples;       /* Sample messages */
	uint64_t locations, functions, mappings;
	uint64_t raw_bytes;     /* the profile before compression */
	uint64_t bytes;         /* written */
};

/* Write the gzip-compressed profile to f (not closed).  0 or a negative
 * errno (-EIO and the like from f, -EPROTO for an inconsistent answer). */
int oxc_pprof_write(struct oxc_pprof *p, const struct oxc_pprof_opts *o, FILE *f,
		    struct oxc_pprof_info *info);

/*
 * The whole job: fetch cmd's profile from c, write it to f (name: the
 * file's name for messages).  0, or a negative code with c->err set.
 */
int oxc_pprof_save(struct oxc_ctl *c, const struct oxp_command *cmd,
		   const struct oxc_pprof_opts *o, FILE *f, const char *name,
		   struct oxc_pprof_info *info);

/* Rows (Sample messages) collected so far. */
uint64_t oxc_pprof_rows(const struct oxc_pprof *p);

#endif
