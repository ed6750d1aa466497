/*
 * proto-samples.h - one filled-in example of every message, shared by the
 * round-trip tests and the fuzz corpus generator.
 */
#ifndef OXT_PROTO_SAMPLES_H
#define OXT_PROTO_SAMPLES_H

#include "oxp/oxp.h"

#define OXT_NSAMPLE_MSGS 14

/* Fill m with example number i (0 .. OXT_NSAMPLE_MSGS-1); the data is
 * static and lives as long as the program. */
void oxt_sample_msg(int i, struct oxp_msg *m);

#endif
