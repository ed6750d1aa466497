/*
 * oxflood.c - a hostile local peer for soaks: it does, in a loop, what an
 * unprivileged user can do to oxprofd over its socket, and never stops on
 * an error (a refused or closed connection is what a hardened daemon
 * should answer with).  Bounded in time and in connections held.
 *
 *   oxflood --socket S [-t SECS] [-n CONNS]
 *
 * Each round opens up to CONNS connections of each kind, keeping the
 * oldest ones open (the daemon has to decide when to let go):
 *   hello    HELLO as an agent with 60 KB exe and cmdline claims (pid 1,
 *            /usr/sbin/sshd), then silence
 *   ids      HELLO, then batches defining thousands of sparse string ids
 *   partial  a frame header announcing 1 MiB - 1 bytes, then half of it
 *   silent   a bare connection that says nothing at all
 * Run it as the user it should attack from, e.g.
 *   setpriv --reuid=nobody --regid=nogroup --clear-groups oxflood ...
 * Output: key=value counts on stdout at the end.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "oxp/oxp.h"

#define BIG 60000
#define KINDS 4
#define MAX_CONNS 4096

static const char *const kind_name[KINDS] = {"hello", "ids", "partial", "silent"};

struct counts {
	uint64_t opened[KINDS], refused, errors, frames;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* Encode and send one message; short timeout: a daemon that stops reading
 * us is doing its job, not a reason to hang. */
static int send_msg(int fd, const struct oxp_msg *m)
{
	struct oxp_buf b;
	oxp_buf_init(&b);
	int r = oxp_encode(&b, m);
	if (r == 0)
		r = oxp_send_all(fd, b.data, b.len, 200);
	oxp_buf_destroy(&b);
	return r;
}

static int send_hello(int fd, const char *claim, uint32_t len)
{
	struct oxp_msg m = {.type = OXP_MSG_HELLO};
	m.u.hello.role = OXP_ROLE_AGENT;
	m.u.hello.pid = 1;
	m.u.hello.exe = (struct oxp_str){claim, len};
	m.u.hello.cmdline = (struct oxp_str){claim, len};
	m.u.hello.software = oxp_str_c("liboxprof 0.1.0");
	return send_msg(fd, &m);
}

/* One batch defining n sparse string ids and nothing that uses them. */
static int send_ids(int fd, uint64_t *seq, uint64_t salt, unsigned n)
{
	static struct oxp_str_def defs[8192];
	if (n > 8192)
		n = 8192;
	for (unsigned i = 0; i < n; i++) {
		defs[i].id = (uint32_t)mix(salt + i) | 1;
		defs[i].str = oxp_str_c("x");
	}
	struct oxp_msg m = {.type = OXP_MSG_SAMPLES};
	m.u.samples.seq = ++*seq;
	m.u.samples.nstrings = n;
	m.u.samples.strings = defs;
	m.u.samples.stats.state = OXP_AGENT_RUNNING;
	m.u.samples.stats.hz_requested = 100;
	m.u.samples.stats.source = oxp_str_c("oxflood");
	return send_msg(fd, &m);
}

static int send_partial(int fd)
{
	static uint8_t body[OXP_FRAME_MAX / 2];
	uint32_t n = OXP_FRAME_MAX - 1;
	uint8_t hdr[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
	int r = oxp_send_all(fd, hdr, sizeof(hdr), 200);
	if (r == 0)
		r = oxp_send_all(fd, body, sizeof(body), 200);
	return r;
}

int main(int argc, char **argv)
{
	const char *sock = NULL;
	double secs = 60;
	int conns = 256;
	int opt;
	while ((opt = getopt(argc, argv, "s:t:n:-:")) != -1) {
		if (opt == 's' || (opt == '-' && !strcmp(optarg, "socket"))) {
			sock = opt == 's' ? optarg : argv[optind++];
		} else if (opt == 't') {
			secs = atof(optarg);
		} else if (opt == 'n') {
			conns = atoi(optarg);
		} else {
			fprintf(stderr, "usage: oxflood --socket S [-t SECS] [-n CONNS]\n");
			return 2;
		}
	}
	if (!sock || conns < 1 || conns > MAX_CONNS / KINDS || secs <= 0) {
		fprintf(stderr, "usage: oxflood --socket S [-t SECS] [-n 1..%d]\n",
			MAX_CONNS / KINDS);
		return 2;
	}
	/* Room for every connection we hold: the soft limit is often 1024. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	char *big = malloc(BIG);
	if (!big)
		return 1;
	memset(big, 'A', BIG);
	memcpy(big, "/usr/sbin/sshd", 14);

	static int fds[KINDS][MAX_CONNS / KINDS];
	int held[KINDS] = {0}, next[KINDS] = {0};
	struct counts c = {{0}, 0, 0, 0};
	uint64_t seq = 0, salt = (uint64_t)getpid() << 32;
	double end = now_s() + secs;
	for (int k = 0; k < KINDS; k++)
		for (int i = 0; i < conns; i++)
			fds[k][i] = -1;

	while (now_s() < end) {
		for (int k = 0; k < KINDS; k++) {
			/* Replace the slot's connection: the new one first, so
			 * the count held never drops while the daemon lets us in. */
			int slot = next[k];
			next[k] = (next[k] + 1) % conns;
			int fd;
			int r = oxp_connect(sock, &fd);
			if (r < 0) {
				c.refused++;
				usleep(20000);
				continue;
			}
			c.opened[k]++;
			switch (k) {
			case 0: r = send_hello(fd, big, BIG); break;
			case 1:
				r = send_hello(fd, "/usr/bin/oxflood", 16);
				for (int i = 0; r == 0 && i < 4; i++, salt += 8192)
					r = send_ids(fd, &seq, salt, 8192);
				break;
			case 2: r = send_partial(fd); break;
			default: r = 0; break;
			}
			if (r < 0)
				c.errors++;
			else
				c.frames++;
			if (fds[k][slot] >= 0)
				close(fds[k][slot]);
			else
				held[k]++;
			fds[k][slot] = fd;
		}
	}
	for (int k = 0; k < KINDS; k++) {
		printf("%s_opened=%" PRIu64 "\n", kind_name[k], c.opened[k]);
		printf("%s_held=%d\n", kind_name[k], held[k]);
	}
	printf("refused=%" PRIu64 "\nerrors=%" PRIu64 "\nsent=%" PRIu64 "\n", c.refused,
	       c.errors, c.frames);
	free(big);
	return 0;
}
