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

static int threshold = OXD_LOG_INFO;
static int journal;

static const char *const names[8] = {
	"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
};

void oxd_log_init(int level)
{
	const char *js = getenv("JOURNAL_STREAM");
	journal = js && *js;
	threshold = level;
}

int oxd_log_parse_level(const char *s, int *level)
{
	for (int i = OXD_LOG_ERR; i <= OXD_LOG_DEBUG; i++)
		if (strcmp(s, names[i]) == 0 || (s[0] == '0' + i && !s[1])) {
			*level = i;
			return 0;
		}
	if (strcmp(s, "warning") == 0 || strcmp(s, "err") == 0) {
		*level = s[0] == 'w' ? OXD_LOG_WARN : OXD_LOG_ERR;
		return 0;
	}
	return -EINVAL;
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
			      (int)(tv.tv_usec / 1000), names[level & 7]);
	}
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = m < 0 ? n : (size_t)(n + m) >= sizeof(line) - 1 ? (int)sizeof(line) - 2 : n + m;
	line[n++] = '\n';
	/* One write per line, so lines from a crash or a restart never mix. */
	if (write(2, line, (size_t)n) < 0)
		errno = 0;
}
