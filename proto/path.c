/* path.c - the one socket-path rule shared by daemon, agent and client. */
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "oxp/oxp.h"

#define SYSTEM_DIR "/run/oxprof"

static int put(char *buf, size_t len, const char *s1, const char *s2)
{
	int n = snprintf(buf, len, "%s%s", s1, s2);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Whether the system directory serves: a client needs it to exist and be
 * searchable; a server must also be able to create the socket in it (or
 * create the directory itself). */
static int system_dir_usable(unsigned flags)
{
	struct stat st;
	if (stat(SYSTEM_DIR, &st) == 0 && S_ISDIR(st.st_mode))
		return access(SYSTEM_DIR, (flags & OXP_PATH_SERVER) ? W_OK | X_OK : X_OK) == 0;
	return (flags & OXP_PATH_SERVER) && access("/run", W_OK | X_OK) == 0;
}

int oxp_socket_path(char *buf, size_t len, const char *explicit_path,
		    unsigned flags, char *(*env)(const char *))
{
	if (explicit_path && *explicit_path)
		return put(buf, len, explicit_path, "");
	const char *e = env("OXPROF_SOCKET");
	if (e && *e)
		return put(buf, len, e, "");
	if (system_dir_usable(flags))
		return put(buf, len, SYSTEM_DIR, "/oxprof.sock");
	e = env("XDG_RUNTIME_DIR");
	if (e && *e == '/')
		return put(buf, len, e, "/oxprof/oxprof.sock");
	char tmp[64];
	snprintf(tmp, sizeof(tmp), "/tmp/oxprof-%u", (unsigned)getuid());
	return put(buf, len, tmp, "/oxprof.sock");
}
