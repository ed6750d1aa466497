/* config.c - OXPROF_* variables -> struct oxa_config. */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "host/log.h"
#include "oxp/oxp.h"
#include "sampler/sampler.h"

/* Parse an unsigned in [lo, hi]; 0 or -EINVAL. */
static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi || *s == '-')
		return -EINVAL;
	*out = v;
	return 0;
}

static int env_uint(const char *name, unsigned long lo, unsigned long hi,
		    unsigned long *out, char *why, size_t whylen)
{
	const char *v = secure_getenv(name);
	if (!v || !*v)
		return 0;
	if (parse_uint(v, lo, hi, out) == 0)
		return 0;
	snprintf(why, whylen, "%s=%s is not a number in %lu..%lu", name, v, lo, hi);
	return -EINVAL;
}

/* Signals the sampler may not take: faults are the host's (the drain
 * thread lets them through to its handler), KILL and STOP cannot be
 * caught. */
static int reserved_signal(unsigned long n)
{
	return n == SIGSEGV || n == SIGBUS || n == SIGILL || n == SIGFPE || n == SIGTRAP ||
	       n == SIGSYS || n == SIGKILL || n == SIGSTOP;
}

static int parse_signal(const char *v, int *signo)
{
	unsigned long n;
	if (parse_uint(v, 1, (unsigned long)SIGRTMAX, &n) == 0) {
		if (reserved_signal(n))
			return -EINVAL;
		*signo = (int)n;
		return 0;
	}
	if (!strcmp(v, "SIGPROF") || !strcmp(v, "PROF")) {
		*signo = SIGPROF;
		return 0;
	}
	if (!strncmp(v, "SIGRTMIN+", 9) && parse_uint(v + 9, 0, 32, &n) == 0 &&
	    SIGRTMIN + (int)n <= SIGRTMAX) {
		*signo = SIGRTMIN + (int)n;
		return 0;
	}
	return -EINVAL;
}

static int parse_user(const char *v, int *uid)
{
	unsigned long n;
	if (parse_uint(v, 0, 0x7fffffff, &n) == 0) {
		*uid = (int)n;
		return 0;
	}
	struct passwd pw, *res;
	char buf[1024];
	if (getpwnam_r(v, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -EINVAL;
	*uid = (int)pw.pw_uid;
	return 0;
}

static int env_strings(struct oxa_config *c, char *why, size_t whylen)
{
	const char *v = secure_getenv("OXPROF_DAEMON");
	if (!v || strcmp(v, "0") != 0) {
		v = secure_getenv("OXPROF_SOCKET");
		if (oxp_socket_path(c->socket, sizeof(c->socket), v, 0, secure_getenv) < 0) {
			snprintf(why, whylen, "OXPROF_SOCKET is too long for a Unix socket");
			return -EINVAL;
		}
	}
	v = secure_getenv("OXPROF_OUTPUT");
	if (v && snprintf(c->output, sizeof(c->output), "%s", v) >= (int)sizeof(c->output)) {
		snprintf(why, whylen, "OXPROF_OUTPUT is too long");
		return -EINVAL;
	}
	if (oxa_config_absolute_output(c) < 0) {
		snprintf(why, whylen, "OXPROF_OUTPUT is relative and the working directory unknown "
			 "or too long");
		return -EINVAL;
	}
	v = secure_getenv("OXPROF_MODE");
	if (v && *v && strcmp(v, "cpu") && strcmp(v, "wall")) {
		snprintf(why, whylen, "OXPROF_MODE=%s: use cpu or wall", v);
		return -EINVAL;
	}
	if (v && !strcmp(v, "wall"))
		c->mode = OXP_MODE_WALL;
	v = secure_getenv("OXPROF_SIGNAL");
	if (v && *v && parse_signal(v, &c->signo) < 0) {
		snprintf(why, whylen, "OXPROF_SIGNAL=%s: use a number (not a fault signal), SIGPROF "
			 "or SIGRTMIN+N", v);
		return -EINVAL;
	}
	v = secure_getenv("OXPROF_DAEMON_USER");
	if (v && *v && parse_user(v, &c->trusted_uid) < 0) {
		snprintf(why, whylen, "OXPROF_DAEMON_USER=%s: no such user", v);
		return -EINVAL;
	}
	return 0;
}

int oxa_config_absolute_output(struct oxa_config *c)
{
	if (!c->output[0] || c->output[0] == '/')
		return 0;
	char cwd[sizeof(c->output)], out[sizeof(c->output)];
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if (snprintf(out, sizeof(out), "%s/%s", cwd, c->output) >= (int)sizeof(out))
		return -ENAMETOOLONG;
	memcpy(c->output, out, sizeof(out));
	return 0;
}

/* OXPROF_FLEET (config.h): "HZ,MODE,DEPTH", or nothing when malformed. */
static void env_fleet(struct oxa_config *c)
{
	const char *v = secure_getenv("OXPROF_FLEET");
	char *end;
	if (!v || !*v)
		return;
	unsigned long hz = strtoul(v, &end, 10), mode, depth;
	if (*end != ',')
		return;
	mode = strtoul(end + 1, &end, 10);
	if (*end != ',')
		return;
	depth = strtoul(end + 1, &end, 10);
	if (*end || !hz || hz > OXA_MAX_HZ || mode > OXP_MODE_WALL || !depth ||
	    depth > OXA_MAX_DEPTH)
		return;
	c->inherited = 1;
	c->hz = (unsigned)hz;
	c->mode = (int)mode;
	c->depth = (unsigned)depth;
}

int oxa_config_from_env(struct oxa_config *c, char *why, size_t whylen)
{
	memset(c, 0, sizeof(*c));
	c->hz = OXA_DEFAULT_HZ;
	c->depth = OXA_DEFAULT_DEPTH;
	c->flush_ms = OXP_DEFAULT_FLUSH_MS;
	c->buffer_bytes = 8u << 20;
	c->trusted_uid = -1;
	unsigned long v;
	int r = 0;
	if ((r = env_strings(c, why, whylen)) < 0)
		return r;
	v = c->hz;
	if ((r = env_uint("OXPROF_HZ", 1, OXA_MAX_HZ, &v, why, whylen)) < 0)
		return r;
	c->hz = (unsigned)v;
	v = c->depth;
	if ((r = env_uint("OXPROF_DEPTH", 1, OXA_MAX_DEPTH, &v, why, whylen)) < 0)
		return r;
	c->depth = (unsigned)v;
	v = 0;
	if ((r = env_uint("OXPROF_START", 0, 1, &v, why, whylen)) < 0)
		return r;
	c->start_running = (int)v;
	v = 0;
	if ((r = env_uint("OXPROF_FLUSH_MS", OXP_MIN_FLUSH_MS, OXP_MAX_FLUSH_MS, &v, why,
			  whylen)) < 0)
		return r;
	c->flush_ms_env = v != 0;
	c->flush_ms = v ? (unsigned)v : c->flush_ms;
	v = c->buffer_bytes >> 10;
	if ((r = env_uint("OXPROF_BUFFER_KB", 64, 1u << 20, &v, why, whylen)) < 0)
		return r;
	c->buffer_bytes = (size_t)v << 10;
	/* Users type 0..3 (error, warn, info, debug); unset keeps the level. */
	static const int levels[] = { OX_LOG_ERR, OX_LOG_WARN, OX_LOG_INFO, OX_LOG_DEBUG };
	v = 4;
	if ((r = env_uint("OXPROF_LOG_LEVEL", 0, 3, &v, why, whylen)) < 0)
		return r;
	if (v < 4)
		oxa_log_level = levels[v];
	env_fleet(c);
	return 0;
}
