/*
 * test-agent-state.c - what the agent wants and what it reports
 * (agent/drain/state.c), over the real sampler in this process: a fleet
 * state beyond the agent's limits is clamped, and the clamp is reported.
 */
#include <string.h>

#include "drain/agent.h"
#include "task.h"

static void fill(struct oxa_agent *a, struct oxp_agent_stats *st, char *src, size_t len)
{
	oxa_state_fill(a, st, src, len);
	ASSERT_EQ(st->source.len, strlen(src));
}

TEST(agent_state_reports_a_clamp)
{
	struct oxa_agent a;
	memset(&a, 0, sizeof(a));
	ASSERT_EQ(oxa_sampler_init(NULL), 0);
	/* More than any decoder lets through: only the C API could ask it. */
	struct oxp_fleet f = { .running = 1, .mode = OXP_MODE_CPU, .hz = OXP_MAX_HZ + 1,
			       .depth = OXP_MAX_DEPTH + 1 };
	oxa_state_adopt(&a, &f, 7, 1);
	char src[128];
	struct oxp_agent_stats st;
	fill(&a, &st, src, sizeof(src));
	ASSERT_EQ(st.state, OXP_AGENT_RUNNING);
	ASSERT_EQ(st.ack_seq, 7);
	/* What was asked stays visible, and the clamp beside the source. */
	ASSERT_EQ(st.hz_requested, OXP_MAX_HZ + 1);
	ASSERT_MSG(strstr(src, ", capped at 20000 Hz") && strstr(src, ", depth capped at 256"),
		   "source: %s", src);
	f.hz = 1000;
	f.depth = 64;
	oxa_state_adopt(&a, &f, 8, 1);
	fill(&a, &st, src, sizeof(src));
	ASSERT_EQ(st.hz_requested, 1000);
	ASSERT_MSG(!strstr(src, "capped"), "source: %s", src);
	/* A buffer too small for the note is cut, never overrun. */
	f.hz = OXA_MAX_HZ + 1;
	oxa_state_adopt(&a, &f, 9, 1);
	char small[8];
	fill(&a, &st, small, sizeof(small));
	ASSERT_EQ(strlen(small), sizeof(small) - 1);
	oxa_sampler_disarm();
}
