/*
 * test-daemon-fleet.c - fleet commands reach every agent, whatever one of
 * them does with what it is sent.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "daemon-harness.h"
#include "task.h"

/*
 * 50 agents; one of them never reads.  Fleet-wide pause and unpause
 * alternate until the daemon's queue to the silent one passes
 * --max-write-queue and it is dropped in the middle of telling the fleet:
 * in that round and every other, each agent that reads gets its SET_STATE.
 */
TEST_TIMEOUT(daemon_fleet_slow_agent_does_not_stop_the_fleet, 240)
{
	enum { N = 50, SLOW = 25, ROUNDS = 100000 };
	const char *args[] = { "--max-write-queue", "65536", NULL };
	struct oxt_daemon d;
	oxt_daemon_start(&d, args);
	struct oxt_peer *ag = calloc(N, sizeof(*ag));
	ASSERT(ag);
	/* The daemon's list is newest first: the silent one sits in the
	 * middle, with agents on both sides of it. */
	for (int i = 0; i < N; i++)
		ASSERT_EQ(oxt_peer_open(&ag[i], &d, OXP_ROLE_AGENT, "/usr/bin/fleet", NULL, 0), 0);
	struct oxt_peer ctl;
	ASSERT_EQ(oxt_peer_open(&ctl, &d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	int dropped_in = -1;
	for (int round = 0; round < ROUNDS; round++) {
		int running = round % 2 == 0;
		struct oxp_command c = oxt_cmd(running ? OXP_CMD_UNPAUSE : OXP_CMD_PAUSE);
		struct oxt_result r;
		oxt_command(&ctl, &c, &r);
		ASSERT_EQ(r.code, 0);
		oxt_result_free(&r);
		/* The reply comes after the fleet was told. */
		for (int i = 0; i < N; i++) {
			if (i == SLOW)
				continue;
			struct oxp_msg m;
			int e = oxt_recv(&ag[i], &m, 10000);
			ASSERT_MSG(e == 0, "round %d: agent %d of %d was not told (%s); the silent one "
				   "is %d", round, i, N, oxp_strerror(e), SLOW);
			ASSERT_EQ(m.type, OXP_MSG_SET_STATE);
			ASSERT_EQ(m.u.set_state.fleet.running, running);
		}
		if (r.affected == N - 1) {
			dropped_in = round;
			break;
		}
		ASSERT_EQ(r.affected, N);
	}
	ASSERT_MSG(dropped_in > 0, "the silent agent was never dropped");
	ASSERT(oxt_daemon_log_has(&d, "does not read what it is sent"));
	printf("  the silent agent was dropped after %d fleet commands\n", dropped_in);
	oxt_peer_close(&ctl);
	for (int i = 0; i < N; i++)
		oxt_peer_close(&ag[i]);
	free(ag);
	oxt_daemon_finish(&d);
}
