/*
 * snapshot-kit.h - what the sources of test-daemon-snapshot share.
 */
#ifndef OXT_SNAPSHOT_KIT_H
#define OXT_SNAPSHOT_KIT_H

#include "daemon-harness.h"

/* One agent of /usr/bin/kept sends scale batches of 500 stacks, leaves. */
void workload(const struct oxt_daemon *d, int scale);
/* Fills v with --state-dir DIR --snapshot-interval interval, NULL. */
const char *state_args(const struct oxt_daemon *d, const char *interval, const char **v);

#endif
