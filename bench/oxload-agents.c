/*
 * oxload-agents.c - the agent children: forked, one slot each in shared
 * memory, summed and reaped (oxload.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "oxp/oxp.h"
#include "oxload.h"


void sum_slots(struct shared *sh, int n, uint64_t *acc, uint64_t *ref, uint64_t *bat)
{
	*acc = *ref = *bat = 0;
	for (int i = 0; i < n; i++) {
		*acc += atomic_load(&sh->s[i].accepted);
		*ref += atomic_load(&sh->s[i].refused);
		*bat += atomic_load(&sh->s[i].batches);
	}
}

struct shared *spawn(const struct opts *o, void (*child)(const struct opts *, struct shared *, int))
{
	size_t sz = sizeof(struct shared) + (size_t)o->agents * sizeof(struct slot);
	struct shared *sh = mmap(NULL, sz, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		die("mmap", -errno);
	memset(sh, 0, sz);
	fflush(stdout);
	for (int i = 0; i < o->agents; i++) {
		pid_t p = fork();
		if (p < 0)
			die("fork", -errno);
		if (p == 0)
			child(o, sh, i);
	}
	/* wait until every agent is connected (or failed) */
	double t0 = now_s();
	for (;;) {
		int ready = 0, failed = 0;
		for (int i = 0; i < o->agents; i++) {
			int st = atomic_load(&sh->s[i].state);
			ready += st != 0;
			failed += st < 0;
		}
		if (failed) {
			fprintf(stderr, "oxload: %d of %d agents failed to connect\n",
				failed, o->agents);
			atomic_store(&sh->stop, 1);
			return NULL;
		}
		if (ready == o->agents)
			break;
		if (now_s() - t0 > 30) {
			fprintf(stderr, "oxload: agents not connected after 30 s\n");
			atomic_store(&sh->stop, 1);
			return NULL;
		}
		usleep(2000);
	}
	return sh;
}

int reap(int n)
{
	int bad = 0;
	for (int i = 0; i < n; i++) {
		int st;
		if (wait(&st) < 0)
			break;
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	return bad;
}
