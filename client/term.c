/* term.c - terminal width and colour; see term.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "term.h"

int oxc_out_width(FILE *f, int wide)
{
	int fd = fileno(f);
	if (wide || fd < 0 || !isatty(fd))
		return 0;
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	int n = c ? atoi(c) : 0;
	return n > 0 ? n : 80;
}

int oxc_out_color(FILE *f)
{
	int fd = fileno(f);
	const char *term = getenv("TERM");
	const char *no = getenv("NO_COLOR");
	return fd >= 0 && isatty(fd) && !(no && *no) && !(term && !strcmp(term, "dumb"));
}
