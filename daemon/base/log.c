/* log.c - stderr logging, journald-aware. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int threshold = OX_LOG_INFO;
static int journal;

void oxd_log_init(int level)
{
	const char *js = getenv("JOURNAL_STREAM");
	journal = js && *js;
	threshold = level;
}

void oxd_log(int level, const char *fmt, ...)
{
	if (level > threshold)
		return;
	char line[2048];
	int n;
	if (journal) {
		n = snprintf(line, sizeof(line), "<%d>", level);
	} else {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		localtime_r(&tv.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += snprintf(line + n, sizeof(line) - (size_t)n, ".%03d oxprofd %s: ",
			      (int)(tv.tv_usec / 1000), ox_log_level_name(level));
	}
	va_list ap;
	va_start(ap, fmt);
	size_t len = ox_log_vline(line, sizeof(line), (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line, so lines from a crash or a restart never mix. */
	if (write(2, line, len) < 0)
		errno = 0;
}
