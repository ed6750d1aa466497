/*
 * hostile.h - the kit of test-daemon-hostile*: status with the fields these
 * tests look at, an attacker child running as another user, raw HELLOs,
 * and the attacks the soak replays.
 */
#ifndef OXT_HOSTILE_H
#define OXT_HOSTILE_H

#include <stdint.h>
#include <sys/types.h>

#include "daemon-harness.h"

#define NOBODY 65534
#define NOGROUP 65534
#define OTHER_UID 1 /* "daemon": another unprivileged user */

/* What the daemon's RSS grew by must fit its budget (plus slack for the
 * allocator and libuv).  Under AddressSanitizer freed memory is held in
 * quarantine, so RSS says nothing there and is only printed. */
#if defined(__SANITIZE_ADDRESS__)
#define OXT_RSS_MEANINGFUL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OXT_RSS_MEANINGFUL 0
#endif
#endif
#ifndef OXT_RSS_MEANINGFUL
#define OXT_RSS_MEANINGFUL 1
#endif

/* ---- status, with the fields these tests look at ---- */

struct hrow {
	int32_t pid;
	uint32_t uid;
	char exe[300];
	uint8_t state;
	uint32_t flags;
	uint64_t samples, dropped_daemon;
};

struct huid {
	uint32_t uid;
	uint64_t mem, refused_mem, refused_conns, dropped;
	uint32_t conns, agents;
};

struct hstatus {
	uint64_t mem_used, mem_budget, mem_peers, refused_conns, refused_mem, dropped;
	uint32_t nrows, nuids;
	struct hrow rows[64];
	struct huid uids[16];
};
/* ---- the attacker ---- */

/*
 * Run fn(d, arg) in a child as uid/gid; it writes one byte to ready once
 * its attack is in place and then holds it (connections open) until the
 * parent calls release().  Returns the child's pid.
 */
struct attacker {
	pid_t pid;
	int ready, hold; /* parent's ends */
};

typedef int (*attack_fn)(const struct oxt_daemon *d, void *arg);

int skip_unless_root(void);
int full_size(void);
int scale(int small, int full);
void start(struct oxt_daemon *d, const char *const *args);
long rss_kb(const struct oxt_daemon *d);
void check_rss(long grown_kb, uint64_t budget);
int try_status(const struct oxt_daemon *d, struct hstatus *st);
void status(const struct oxt_daemon *d, struct hstatus *st);
const struct huid *uid_row(const struct hstatus *st, uint32_t uid);
const struct hrow *pid_row(const struct hstatus *st, int32_t pid);
void print_status(const char *when, const struct oxt_daemon *d, const struct hstatus *st);
void become(uid_t uid, gid_t gid);
void attack(struct attacker *at, const struct oxt_daemon *d, uid_t uid, attack_fn fn,
	    void *arg);
void release(struct attacker *at);
int raw_hello(const struct oxt_daemon *d, int role, const char *exe, const char *cmdline);
int wait_closed(int fd, int timeout_ms);
int agent_as(const struct oxt_daemon *d, uid_t uid, const char *exe);

/* The attacks the soak replays (in test-daemon-hostile*.c). */
char *big_string(char c, size_t n, unsigned salt);
int hello_flood(const struct oxt_daemon *d, void *arg);
int sparse_flood(const struct oxt_daemon *d, void *arg);
int partial_frames(const struct oxt_daemon *d, void *arg);
int silent_conns(const struct oxt_daemon *d, void *arg);
int claim_flood(const struct oxt_daemon *d, void *arg);

#endif
