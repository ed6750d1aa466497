/*
 * config.h - oxprofd's options: one table (config.c) read from the command
 * line and from a "name = value" file (--config), with the same names.
 */
#ifndef OXD_CONFIG_H
#define OXD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct oxd_config {
	char socket[108];      /* empty: the shared path rule decides */
	char state_dir[1024];  /* empty: no snapshots */
	char config_file[1024];
	int log_level;
	uint32_t hz;
	uint32_t mode;
	uint32_t depth;
	uint32_t snapshot_ms;
	uint32_t handshake_ms;
	uint32_t idle_ms;
	uint32_t max_conns;
	uint32_t uid_max_conns;  /* per uid not allowed to control */
	uint32_t control_reserve; /* slots past max_conns for control-allowed uids */
	uint32_t frame_ms;       /* a partial frame must complete within this */
	uint32_t flush_ms;
	uint32_t exited_ttl_ms;  /* exited agents' rows leave status after this; 0 never */
	uint64_t mem_budget;
	uint64_t agent_mem_budget;
	uint64_t uid_mem_budget;
	uint64_t write_queue_max;
	uint32_t hist_ms[3];     /* time slot widths, finest first */
	uint32_t hist_keep_ms[2]; /* how long the first two widths last */
	uint64_t hist_mem_budget;
	uid_t *allow_uids;     /* owned; freed by oxd_config_destroy */
	size_t nallow_uids;
	uid_t *trust_uids;     /* agents believed about their exe (owned) */
	size_t ntrust_uids;
	gid_t *allow_gids;
	size_t nallow_gids;
	int has_agent_group;
	gid_t agent_group;
};

/*
 * Fill cfg from defaults, then the --config file if one is named, then the
 * command line.  Returns 0 to run, 1 when --help/--version was handled
 * (exit 0), -EINVAL after printing what was wrong to stderr (exit 2).
 * A --config file that does not exist is only a warning, so a service
 * unit can name the standard path before an administrator writes it.
 */
int oxd_config_load(struct oxd_config *cfg, int argc, char **argv);
void oxd_config_destroy(struct oxd_config *cfg);

#endif
