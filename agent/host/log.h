/* log.h - agent logging to fd 2 without stdio; see log.c. */
#ifndef OXA_LOG_H
#define OXA_LOG_H

enum { OXA_LOG_ERROR = 0, OXA_LOG_WARN = 1, OXA_LOG_INFO = 2, OXA_LOG_DEBUG = 3 };

extern int oxa_log_level;
/* Not async-signal-safe (vsnprintf); call from ordinary threads only. */
void oxa_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
