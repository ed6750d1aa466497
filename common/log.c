/* log.c - the one level scale and line builder; see ox/log.h. */
#include "ox/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const names[8] = {
	"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
};

const char *ox_log_level_name(int level)
{
	return names[level & 7];
}

int ox_log_parse_level(const char *s, int *level)
{
	for (int i = OX_LOG_ERR; i <= OX_LOG_DEBUG; i++)
		if (strcmp(s, names[i]) == 0 || (s[0] == '0' + i && !s[1])) {
			*level = i;
			return 0;
		}
	if (strcmp(s, "warning") == 0 || strcmp(s, "err") == 0) {
		*level = s[0] == 'w' ? OX_LOG_WARN : OX_LOG_ERR;
		return 0;
	}
	return -EINVAL;
}

size_t ox_log_vline(char *line, size_t cap, size_t n, const char *fmt, va_list ap)
{
	/* Room for the newline is kept back from vsnprintf. */
	int m = vsnprintf(line + n, cap - n - 1, fmt, ap);
	if (m > 0)
		n = n + (size_t)m >= cap - 1 ? cap - 2 : n + (size_t)m;
	line[n++] = '\n';
	return n;
}
