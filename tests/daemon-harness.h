/*
 * daemon-harness.h - run a real oxprofd on a private socket and talk to it
 * like an agent or oxprofctl would, with the proto library.
 *
 * Every helper asserts on failure unless it returns a code; tests stay
 * short and read like the conversation they check.
 */
#ifndef OXT_DAEMON_HARNESS_H
#define OXT_DAEMON_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "oxp/oxp.h"

/*
 * The real-daemon fixture.  A case's daemon lives in a private dir (in the
 * case's own, oxt_case_dir), with its socket, log and state paths:
 *
 *	struct oxt_daemon d;
 *	oxt_daemon_start(&d, args);        (or oxt_daemon_init, then
 *	...                                 oxt_daemon_restart with args
 *	oxt_daemon_finish(&d);              that name d.state or d.dir)
 *
 * A daemon that fails to start, or to stop cleanly, fails the case with
 * its log on stderr.
 */
struct oxt_daemon {
	pid_t pid;
	uid_t uid;       /* run oxprofd as uid:gid (set after init); 0: as the test */
	gid_t gid;
	char dir[256];   /* private temp dir: socket, log, state */
	char sock[300];
	char log[300];
	char state[300]; /* dir/state, for --state-dir */
	char env[320];   /* "OXPROF_SOCKET=sock", see oxt_daemon_env */
};

/* Make the private dir (0755), the paths in it and an empty log; no
 * daemon yet. */
void oxt_daemon_init(struct oxt_daemon *d);
/* oxt_daemon_init, then oxt_daemon_restart with the NULL-terminated extra
 * args (may be NULL). */
void oxt_daemon_start(struct oxt_daemon *d, const char *const *args);
/* Start oxprofd in d's dir (after oxt_daemon_init, a stop or a kill);
 * returns once it accepts connections. */
void oxt_daemon_restart(struct oxt_daemon *d, const char *const *args);
/* Start without waiting; returns the pid (for tests of refusal). */
pid_t oxt_daemon_spawn(struct oxt_daemon *d, const char *const *args);
/* SIGTERM, wait; asserts a clean exit 0.  Returns the wall time in ms. */
double oxt_daemon_stop(struct oxt_daemon *d);
/* oxt_daemon_stop (asserting the clean exit), then oxt_daemon_cleanup. */
void oxt_daemon_finish(struct oxt_daemon *d);
void oxt_daemon_kill9(struct oxt_daemon *d);
int oxt_daemon_alive(const struct oxt_daemon *d);
/* Whether the daemon's log holds s. */
int oxt_daemon_log_has(const struct oxt_daemon *d, const char *s);
/* Copy the daemon's log to stderr (a failing case's evidence). */
void oxt_daemon_print_log(const struct oxt_daemon *d);
/* A field of the daemon's /proc/PID/status in KiB ("VmRSS", "VmHWM"), or
 * -1. */
long oxt_daemon_status_kb(const struct oxt_daemon *d, const char *field);
/* Peak RSS of the daemon so far, in KiB (VmHWM). */
long oxt_daemon_rss_kb(const struct oxt_daemon *d);
/* rm -rf the temp dir. */
void oxt_daemon_cleanup(struct oxt_daemon *d);
/* "OXPROF_SOCKET=<d's socket>", the environment entry that sends a real
 * agent to this daemon (kept in d). */
const char *oxt_daemon_env(struct oxt_daemon *d);

/* ---- a peer ---- */

struct oxt_peer {
	int fd;
	struct oxp_reader rd;
	struct oxp_decoder *dec;
	struct oxp_buf out;
	struct oxp_welcome welcome; /* strings not kept */
	int nset_state;             /* SET_STATEs seen while waiting for others */
	struct oxp_set_state last_set_state;
};

/* The instance an agent peer announces in HELLO (0: none, the default). */
extern uint64_t oxt_hello_instance;

/* Connect and say HELLO with role; returns 0 after WELCOME, or the ERROR
 * code (message copied to err if not NULL). */
int oxt_peer_open(struct oxt_peer *p, const struct oxt_daemon *d, int role, const char *exe,
		  char *err, size_t errlen);
void oxt_peer_close(struct oxt_peer *p);
/* Send a message; 0 or -errno. */
int oxt_send(struct oxt_peer *p, const struct oxp_msg *m);
/* Next message (borrowed until the next call); 0 or an error. */
int oxt_recv(struct oxt_peer *p, struct oxp_msg *m, int timeout_ms);

/* ---- control ---- */

struct oxt_row {
	char *name, *module;
	int32_t pid, tid;
	uint64_t self, total;
};

struct oxt_result {
	int code;
	char msg[512];
	uint32_t affected;
	struct oxp_query_head head;
	size_t nrows;
	struct oxt_row *rows;
	int nframes; /* QUERY_ROWS frames */
};

struct oxt_agent_row {
	int32_t pid;
	uint32_t uid;
	char exe[256];
	uint8_t state;
	uint64_t samples, dropped_agent, dropped_daemon;
	uint64_t taken, sent;   /* the agent's own counters */
	uint64_t last_batch_ms;
	char source[64];
	uint32_t hz_requested;
};

struct oxt_status {
	struct oxp_fleet fleet;
	uint64_t mem_used, mem_budget, samples, dropped, refused_conns, uptime_ms;
	uint32_t nagents;
	struct oxt_agent_row agents[64];
};

/* An empty selector / command. */
struct oxp_command oxt_cmd(uint8_t cmd);
/* Send a command and read everything up to the REPLY. */
void oxt_command(struct oxt_peer *p, const struct oxp_command *c, struct oxt_result *r);
void oxt_result_free(struct oxt_result *r);
const struct oxt_row *oxt_row_named(const struct oxt_result *r, const char *name);
/* Status over a fresh control connection. */
void oxt_status(const struct oxt_daemon *d, struct oxt_status *st);
const struct oxt_agent_row *oxt_status_pid(const struct oxt_status *st, int32_t pid);
/* One command over a fresh control connection; returns the reply code. */
int oxt_simple(const struct oxt_daemon *d, uint8_t cmd, struct oxt_result *r);

/* ---- a fake agent ---- */

#define OXT_MAX_NAMES 4096

struct oxt_agent {
	struct oxt_peer p;
	char *names[OXT_MAX_NAMES]; /* string id -> name (also frame id) */
	uint32_t nnames, defined_names;
	uint32_t tids[64], tid_names[64];
	int ntids, defined_tids;
	struct oxp_fleet fleet; /* from WELCOME / SET_STATE */
	uint64_t seq, batch_seq;
	/* the batch being built */
	struct oxp_stack stacks[1024];
	uint32_t frames[1024 * 64];
	uint32_t nstacks, nframes_used;
	uint8_t state;
	uint64_t first_ms, last_ms; /* the next batches' taken span (0: unsaid) */
};

/* Connect as an agent with this exe. 0 or the ERROR code. */
int oxt_agent_join(struct oxt_agent *a, const struct oxt_daemon *d, const char *exe);
/* Add count samples of folded stack "root;...;leaf" on thread tid/name.
 * "module!func" sets a frame's module (default "libtest.so"). */
void oxt_agent_add(struct oxt_agent *a, uint32_t tid, const char *tname, const char *folded,
		   uint32_t count);
/* Send the batch; waits for its SAMPLES_ACK.  0 or an error (closed). */
int oxt_agent_flush(struct oxt_agent *a, struct oxp_samples_ack *ack);
/* Send the batch without waiting for its ack. */
int oxt_agent_send(struct oxt_agent *a);
/* Report a state (AGENT_STATE). */
void oxt_agent_report(struct oxt_agent *a, uint8_t state);
/* Wait for a SET_STATE; 0 or -ETIMEDOUT. */
int oxt_agent_wait_state(struct oxt_agent *a, struct oxp_set_state *ss, int timeout_ms);
void oxt_agent_leave(struct oxt_agent *a);

/* Poll status until pid's row has state; asserts within timeout. */
void oxt_wait_agent_state(const struct oxt_daemon *d, int32_t pid, uint8_t state, int timeout_ms);
/* Poll status until pid's row satisfies pred; copies it to *row.  0, or -1
 * when timeout_ms passed first. */
int oxt_wait_row(const struct oxt_daemon *d, int32_t pid,
		 int (*pred)(const struct oxt_agent_row *), int timeout_ms,
		 struct oxt_agent_row *row);
uint64_t oxt_ms(void);
/* How long the harness waits for any one answer of the daemon. */
#define OXT_IO_MS 10000

#endif
