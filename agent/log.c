/*
 * log.c - the agent's logging: one formatted line written straight to fd 2
 * with write(2), never stdio, so it is safe from any ordinary thread and
 * never takes a lock the host might hold.  Level from OXPROF_LOG_LEVEL.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int oxa_log_level = OXA_LOG_WARN;

void oxa_log(int level, const char *fmt, ...)
{
	if (level > oxa_log_level)
		return;
	char line[512];
	int n = snprintf(line, sizeof(line), "oxprof[%d]: ", (int)getpid());
	if (n < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	size_t len = strlen(line);
	line[len++] = '\n';
	ssize_t w = write(2, line, len);
	(void)w;
}
