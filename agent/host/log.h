/* log.h - agent logging to fd 2 without stdio; see log.c. */
#ifndef OXA_LOG_H
#define OXA_LOG_H

#include "ox/log.h"

/* Lines above this level (OX_LOG_*, the one scale) are dropped. */
extern int oxa_log_level;
/* Not async-signal-safe (vsnprintf); call from ordinary threads only. */
void oxa_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
