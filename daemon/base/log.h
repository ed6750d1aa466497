/*
 * log.h - one line per event on stderr.  Under systemd (JOURNAL_STREAM set)
 * lines carry a "<N>" syslog priority prefix and no timestamp, since
 * journald adds its own; otherwise they start with a local timestamp.
 */
#ifndef OXD_LOG_H
#define OXD_LOG_H

/* syslog priorities, so the journal prefix is the level itself. */
enum oxd_log_level {
	OXD_LOG_ERR = 3,
	OXD_LOG_WARN = 4,
	OXD_LOG_NOTICE = 5,
	OXD_LOG_INFO = 6,
	OXD_LOG_DEBUG = 7,
};

/* Read JOURNAL_STREAM and set the threshold (lines above it are dropped). */
void oxd_log_init(int level);
/* Parse "error|warn|notice|info|debug" (or 3..7).  0 or -EINVAL. */
int oxd_log_parse_level(const char *s, int *level);
void oxd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define oxd_err(...) oxd_log(OXD_LOG_ERR, __VA_ARGS__)
#define oxd_warn(...) oxd_log(OXD_LOG_WARN, __VA_ARGS__)
#define oxd_notice(...) oxd_log(OXD_LOG_NOTICE, __VA_ARGS__)
#define oxd_info(...) oxd_log(OXD_LOG_INFO, __VA_ARGS__)
#define oxd_debug(...) oxd_log(OXD_LOG_DEBUG, __VA_ARGS__)

#endif
