/*
 * log.h - one line per event on stderr.  Under systemd (JOURNAL_STREAM set)
 * lines carry a "<N>" syslog priority prefix and no timestamp, since
 * journald adds its own; otherwise they start with a local timestamp.
 */
#ifndef OXD_LOG_H
#define OXD_LOG_H

#include "ox/log.h"

/* Read JOURNAL_STREAM and set the threshold (OX_LOG_*: lines above it are
 * dropped).  --log-level is parsed by ox_log_parse_level. */
void oxd_log_init(int level);
void oxd_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define oxd_err(...) oxd_log(OX_LOG_ERR, __VA_ARGS__)
#define oxd_warn(...) oxd_log(OX_LOG_WARN, __VA_ARGS__)
#define oxd_notice(...) oxd_log(OX_LOG_NOTICE, __VA_ARGS__)
#define oxd_info(...) oxd_log(OX_LOG_INFO, __VA_ARGS__)
#define oxd_debug(...) oxd_log(OX_LOG_DEBUG, __VA_ARGS__)

#endif
