/*
 * log.c - the agent's logging: one formatted line written straight to fd 2
 * with write(2), never stdio, so it is safe from any ordinary thread and
 * never takes a lock the host might hold.  Level from OXPROF_LOG_LEVEL.
 *
 * fd 2 is the host's, and a daemon that closed it may have reopened the
 * number as one of its data files: we write there only while it is what
 * it was when we loaded, or a terminal, pipe, socket or device, or a file
 * opened for appending (a log).
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fds.h"
#include "log.h"

int oxa_log_level = OX_LOG_WARN;
static struct oxa_fdid stderr_id;

/* Before the agent's own constructor (api.c), which starts the drain
 * thread: a line it logs before this ran would be compared with no
 * identity at all and dropped (a busy machine makes that likely). */
__attribute__((constructor(101))) static void log_init(void)
{
	struct stat st;
	if (fstat(2, &st) == 0)
		stderr_id = (struct oxa_fdid){ st.st_dev, st.st_ino };
}

static int stderr_ok(void)
{
	struct stat st;
	if (fstat(2, &st) < 0)
		return 0;
	if (st.st_dev == stderr_id.dev && st.st_ino == stderr_id.ino)
		return 1;
	int fl = fcntl(2, F_GETFL);
	return !S_ISREG(st.st_mode) || (fl >= 0 && (fl & O_APPEND));
}

void oxa_log(int level, const char *fmt, ...)
{
	if (level > oxa_log_level || !stderr_ok())
		return;
	char line[512];
	int n = snprintf(line, sizeof(line), "oxprof[%d]: ", (int)getpid());
	if (n < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	size_t len = ox_log_vline(line, sizeof(line), (size_t)n, fmt, ap);
	va_end(ap);
	ssize_t w = write(2, line, len);
	(void)w;
}
