/*
 * config.c - the option table.  Defaults are strings parsed by the same
 * setters as user input, so the table is the only place a default lives.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "oxp/oxp.h"
#include "ox/xalloc.h"

enum opt_type { T_STR, T_UINT, T_SIZE, T_MSEC, T_MODE, T_LEVEL, T_USERS, T_GROUPS, T_GROUP,
		T_TRUST };

struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	uint64_t min, max; /* T_UINT/T_SIZE/T_MSEC bounds, T_STR buffer size */
	const char *def;
	const char *help;
};

#define STR_(x) #x
#define STR(x) STR_(x)
#define OFF(f) offsetof(struct oxd_config, f)
#define SZ(f) sizeof(((struct oxd_config *)0)->f)

static const struct opt opts[] = {
	{ "socket", T_STR, OFF(socket), 0, SZ(socket), "",
	  "Unix socket path (default: $OXPROF_SOCKET, /run/oxprof, $XDG_RUNTIME_DIR/oxprof, /tmp/oxprof-UID)" },
	{ "config", T_STR, OFF(config_file), 0, SZ(config_file), "",
	  "read options from FILE (name = value lines, same names)" },
	{ "log-level", T_LEVEL, OFF(log_level), 0, 0, "info", "error, warn, notice, info or debug" },
	{ "state-dir", T_STR, OFF(state_dir), 0, SZ(state_dir), "",
	  "keep aggregate snapshots in DIR, loaded at start" },
	{ "snapshot-interval", T_MSEC, OFF(snapshot_ms), 10, 86400000, "30",
	  "seconds between snapshots (decimals allowed)" },
	{ "hz", T_UINT, OFF(hz), 1, OXP_MAX_HZ, "100", "fleet default sampling rate" },
	{ "mode", T_MODE, OFF(mode), 0, 0, "cpu", "fleet default mode: cpu or wall" },
	{ "depth", T_UINT, OFF(depth), 1, OXP_MAX_DEPTH, "128", "fleet default max stack depth" },
	{ "allow-user", T_USERS, 0, 0, 0, NULL, "NAME|UID may control and query (repeatable)" },
	{ "allow-group", T_GROUPS, 0, 0, 0, NULL, "members of NAME|GID may control and query (repeatable)" },
	{ "trust-claims", T_TRUST, 0, 0, 0, NULL,
	  "believe the exe and cmdline NAME|UID's agents announce instead of /proc (repeatable; "
	  "for tests, or containers whose /proc paths mean nothing on the host)" },
	{ "agent-group", T_GROUP, 0, 0, 0, NULL, "only processes in NAME|GID may report samples" },
	{ "handshake-timeout", T_MSEC, OFF(handshake_ms), 10, 3600000, "5",
	  "seconds a new connection has to say HELLO" },
	{ "idle-timeout", T_MSEC, OFF(idle_ms), 10, 86400000, "60",
	  "seconds a control connection may stay silent or not read" },
	{ "max-connections", T_UINT, OFF(max_conns), 1, 1000000, "4096",
	  "connections held at once; more are refused with an error" },
	{ "uid-max-connections", T_UINT, OFF(uid_max_conns), 0, 1000000, "0",
	  "connections one user may hold, unless allowed to control (0: max-connections / 4)" },
	{ "control-reserve", T_UINT, OFF(control_reserve), 0, 100000, "32",
	  "connections past max-connections kept for users allowed to control" },
	{ "frame-timeout", T_MSEC, OFF(frame_ms), 10, 3600000, "10",
	  "seconds a message that has started arriving has to arrive whole" },
	{ "flush-ms", T_UINT, OFF(flush_ms), OXP_MIN_FLUSH_MS, OXP_MAX_FLUSH_MS, STR(OXP_DEFAULT_FLUSH_MS),
	  "how often agents send batches (OXPROF_FLUSH_MS overrides it in an agent)" },
	{ "exited-ttl", T_MSEC, OFF(exited_ttl_ms), 0, 2592000000u, "600",
	  "seconds an exited agent's row stays in status; its samples stay in queries "
	  "(0: for ever)" },
	{ "mem-budget", T_SIZE, OFF(mem_budget), 1 << 16, UINT64_MAX, "256M",
	  "bytes held for peers in all: the aggregate, buffers, id maps (K, M, G suffixes)" },
	{ "agent-mem-budget", T_SIZE, OFF(agent_mem_budget), 1 << 12, UINT64_MAX, "64M",
	  "bytes one process may add to the aggregate" },
	{ "uid-mem-budget", T_SIZE, OFF(uid_mem_budget), 0, UINT64_MAX, "0",
	  "bytes held for one user's processes and connections (0: mem-budget / 2)" },
	{ "history-slot", T_MSEC, OFF(hist_ms[0]), 1000, 3600000, "10",
	  "seconds of the newest time slots (whole seconds)" },
	{ "history-slot-old", T_MSEC, OFF(hist_ms[1]), 1000, 86400000, "60",
	  "seconds of slots older than history-keep (a multiple of history-slot)" },
	{ "history-slot-oldest", T_MSEC, OFF(hist_ms[2]), 1000, 86400000, "600",
	  "seconds of slots older than history-keep-old (a multiple of history-slot-old)" },
	{ "history-keep", T_MSEC, OFF(hist_keep_ms[0]), 0, 2592000000u, "3600",
	  "seconds slots keep the history-slot width" },
	{ "history-keep-old", T_MSEC, OFF(hist_keep_ms[1]), 0, 2592000000u, "86400",
	  "seconds slots keep the history-slot-old width (at least history-keep)" },
	{ "history-mem-budget", T_SIZE, OFF(hist_mem_budget), 0, UINT64_MAX, "0",
	  "bytes of mem-budget the time slots may hold; the oldest are dropped past it "
	  "(0: mem-budget / 4)" },
	{ "max-write-queue", T_SIZE, OFF(write_queue_max), 1 << 16, UINT64_MAX, "8M",
	  "bytes queued to a peer that does not read before it is dropped" },
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static int parse_u64(const char *v, uint64_t *out, int suffixes)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || *v == '-')
		return -EINVAL;
	uint64_t mul = 1;
	if (suffixes && *end) {
		const char *s = "KMGT", *p = strchr(s, *end & ~0x20);
		if (!p || !*p)
			return -EINVAL;
		mul = 1ull << (10 * (p - s + 1));
		end += end[1] == 'i' && (end[2] == 'B' || end[2] == 'b') ? 3
		     : end[1] == 'B' || end[1] == 'b' ? 2 : 1;
	}
	if (*end || (mul > 1 && n > UINT64_MAX / mul))
		return -EINVAL;
	*out = n * mul;
	return 0;
}

static int parse_msec(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	double s = strtod(v, &end);
	if (errno || end == v || *end || !(s >= 0) || s > 1e9)
		return -EINVAL;
	*out = (uint64_t)(s * 1000.0 + 0.5);
	return 0;
}

static int parse_id(const char *v, int group, unsigned *id)
{
	uint64_t n;
	if (parse_u64(v, &n, 0) == 0 && n < UINT32_MAX) {
		*id = (unsigned)n;
		return 0;
	}
	if (group) {
		struct group *g = getgrnam(v);
		if (!g)
			return -ENOENT;
		*id = g->gr_gid;
	} else {
		struct passwd *p = getpwnam(v);
		if (!p)
			return -ENOENT;
		*id = p->pw_uid;
	}
	return 0;
}

static int set_list(struct oxd_config *c, const struct opt *o, const char *v)
{
	unsigned id;
	int r = parse_id(v, o->type != T_USERS && o->type != T_TRUST, &id);
	if (r < 0)
		return r;
	if (o->type == T_TRUST) {
		c->trust_uids = ox_xrealloc(c->trust_uids, (c->ntrust_uids + 1) * sizeof(uid_t));
		c->trust_uids[c->ntrust_uids++] = id;
	} else if (o->type == T_USERS) {
		c->allow_uids = ox_xrealloc(c->allow_uids, (c->nallow_uids + 1) * sizeof(uid_t));
		c->allow_uids[c->nallow_uids++] = id;
	} else if (o->type == T_GROUPS) {
		c->allow_gids = ox_xrealloc(c->allow_gids, (c->nallow_gids + 1) * sizeof(gid_t));
		c->allow_gids[c->nallow_gids++] = id;
	} else {
		c->has_agent_group = 1;
		c->agent_group = id;
	}
	return 0;
}

/* Apply one value.  0, -EINVAL (bad value) or -ENOENT (no such user). */
static int set_opt(struct oxd_config *c, const struct opt *o, const char *v)
{
	char *field = (char *)c + o->off;
	uint64_t n = 0;
	int r = 0;
	switch (o->type) {
	case T_STR:
		if (strlen(v) >= o->max)
			return -ENAMETOOLONG;
		strcpy(field, v);
		return 0;
	case T_LEVEL:
		return ox_log_parse_level(v, (int *)field);
	case T_MODE:
		if (strcmp(v, "cpu") && strcmp(v, "wall"))
			return -EINVAL;
		*(uint32_t *)field = v[0] == 'w' ? OXP_MODE_WALL : OXP_MODE_CPU;
		return 0;
	case T_USERS:
	case T_GROUPS:
	case T_GROUP:
	case T_TRUST:
		return set_list(c, o, v);
	case T_MSEC:
		r = parse_msec(v, &n);
		break;
	default:
		r = parse_u64(v, &n, o->type == T_SIZE);
	}
	if (r < 0 || n < o->min || n > o->max)
		return -ERANGE;
	if (o->type == T_SIZE)
		*(uint64_t *)field = n;
	else
		*(uint32_t *)field = (uint32_t)n;
	return 0;
}

static const struct opt *find_opt(const char *name, size_t len)
{
	for (size_t i = 0; i < NOPTS; i++)
		if (strlen(opts[i].name) == len && memcmp(opts[i].name, name, len) == 0)
			return &opts[i];
	return NULL;
}

static int apply(struct oxd_config *c, const struct opt *o, const char *v, const char *where)
{
	int r = set_opt(c, o, v);
	if (r == 0)
		return 0;
	if (r == -ENOENT)
		fprintf(stderr, "oxprofd: %s: --%s %s: no such %s\n", where, o->name, v,
			o->type == T_USERS || o->type == T_TRUST ? "user" : "group");
	else if (r == -ERANGE && o->type != T_STR)
		fprintf(stderr, "oxprofd: %s: --%s %s: out of range (%llu..%llu)\n", where,
			o->name, v, (unsigned long long)o->min, (unsigned long long)o->max);
	else
		fprintf(stderr, "oxprofd: %s: --%s %s: %s\n", where, o->name, v,
			r == -ENAMETOOLONG ? "too long" : "invalid value");
	return -EINVAL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

static int load_file(struct oxd_config *c, const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT) {
			fprintf(stderr, "oxprofd: config %s does not exist; using defaults\n", path);
			return 0;
		}
		fprintf(stderr, "oxprofd: config %s: %s\n", path, strerror(errno));
		return -EINVAL;
	}
	char line[4096], where[1100];
	int lineno = 0, r = 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = trim(line), *eq = strchr(s, '=');
		if (!*s || *s == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		const struct opt *o = NULL;
		if (eq) {
			*eq = 0;
			char *k = trim(s);
			o = find_opt(k, strlen(k));
		}
		if (!o || o->off == OFF(config_file)) {
			fprintf(stderr, "oxprofd: %s: expected \"name = value\" with a known name\n", where);
			r = -EINVAL;
			break;
		}
		r = apply(c, o, trim(eq + 1), where);
	}
	fclose(f);
	return r;
}

static void usage(void)
{
	printf("usage: oxprofd [--name VALUE | --name=VALUE]...\n\n"
	       "oxprof's daemon: agents report stacks to it; oxprofctl controls and queries it.\n\n");
	for (size_t i = 0; i < NOPTS; i++)
		printf("  --%-20s %s%s%s%s\n", opts[i].name, opts[i].help,
		       opts[i].def && *opts[i].def ? " [" : "",
		       opts[i].def && *opts[i].def ? opts[i].def : "",
		       opts[i].def && *opts[i].def ? "]" : "");
	printf("  --%-20s %s\n  --%-20s %s\n", "help", "this text", "version", "print the version");
}

/* Parse argv; with only_config, just find --config. */
static int parse_args(struct oxd_config *c, int argc, char **argv, int only_config)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int help = strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
		int version = strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0;
		if ((help || version) && only_config)
			continue;
		if (help) {
			usage();
			return 1;
		}
		if (version) {
			printf("oxprofd %s (protocol %d)\n", OXPROF_VERSION, OXP_PROTOCOL_VERSION);
			return 1;
		}
		const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		const struct opt *o = strncmp(a, "--", 2) == 0
			? find_opt(a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2)) : NULL;
		if (!o) {
			fprintf(stderr, "oxprofd: unknown option %s (see --help)\n", a);
			return -EINVAL;
		}
		if (eq)
			v = eq + 1;
		else if (i + 1 < argc)
			v = argv[++i];
		else {
			fprintf(stderr, "oxprofd: --%s needs a value\n", o->name);
			return -EINVAL;
		}
		int config = o->off == OFF(config_file) && o->type == T_STR;
		if (only_config != config)
			continue;
		if (apply(c, o, v, "command line") < 0)
			return -EINVAL;
	}
	return 0;
}

int oxd_config_load(struct oxd_config *cfg, int argc, char **argv)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NOPTS; i++)
		if (opts[i].def && set_opt(cfg, &opts[i], opts[i].def) < 0)
			return -EINVAL; /* a broken table; caught by any test run */
	int r = parse_args(cfg, argc, argv, 1);
	if (r == 0 && cfg->config_file[0])
		r = load_file(cfg, cfg->config_file);
	if (r == 0)
		r = parse_args(cfg, argc, argv, 0);
	/* Shares: one user gets part of what there is, so others still fit. */
	if (!cfg->uid_mem_budget)
		cfg->uid_mem_budget = cfg->mem_budget / 2;
	if (!cfg->uid_max_conns)
		cfg->uid_max_conns = cfg->max_conns / 4 ? cfg->max_conns / 4 : 1;
	if (!cfg->hist_mem_budget || cfg->hist_mem_budget > cfg->mem_budget)
		cfg->hist_mem_budget = cfg->mem_budget / 4;
	if (r == 0 && (cfg->hist_ms[0] % 1000 || cfg->hist_ms[1] % cfg->hist_ms[0] ||
		       cfg->hist_ms[2] % cfg->hist_ms[1])) {
		fprintf(stderr, "oxprofd: history-slot, -old, -oldest: whole seconds, each a multiple of "
				"the one before\n");
		r = -EINVAL;
	}
	if (cfg->hist_keep_ms[1] < cfg->hist_keep_ms[0])
		cfg->hist_keep_ms[1] = cfg->hist_keep_ms[0];
	return r;
}

void oxd_config_destroy(struct oxd_config *cfg)
{
	free(cfg->allow_uids);
	free(cfg->allow_gids);
	free(cfg->trust_uids);
	cfg->trust_uids = NULL;
	cfg->allow_uids = NULL;
	cfg->allow_gids = NULL;
}
