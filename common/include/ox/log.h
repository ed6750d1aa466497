/*
 * log.h - what the agent's and the daemon's loggers share: one level scale
 * and the building of one line.  Each part keeps its own writer (the agent
 * writes only to a stderr that is still safe to write, the daemon adds a
 * timestamp or a journal prefix).
 */
#ifndef OX_LOG_H
#define OX_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* syslog priorities, so the journal prefix is the level itself.  Users'
 * scales map onto these where they are read (oxprofd --log-level names,
 * the agent's OXPROF_LOG_LEVEL 0..3). */
enum ox_log_level {
	OX_LOG_ERR = 3,
	OX_LOG_WARN = 4,
	OX_LOG_NOTICE = 5,
	OX_LOG_INFO = 6,
	OX_LOG_DEBUG = 7,
};

/* "error", "warn", "notice", "info", "debug" (syslog names below ERR). */
const char *ox_log_level_name(int level);
/* Parse "error|warn|notice|info|debug", "err", "warning", or 3..7.
 * 0 or -EINVAL. */
int ox_log_parse_level(const char *s, int *level);
/* Format fmt after the n bytes already in line[cap], truncated to fit, and
 * end the line with '\n'.  Returns the line's length, for one write(2) per
 * line so lines from several threads or processes never mix.  Not
 * async-signal-safe (vsnprintf); needs n < cap. */
size_t ox_log_vline(char *line, size_t cap, size_t n, const char *fmt, va_list ap);

#endif
