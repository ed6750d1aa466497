/*
 * state.c - what this agent wants (the sampling state the daemon or the
 * API asked for) and what it reports (the counters of AGENT_STATE and
 * SAMPLES, and oxprof_status).  Below conn.c and batch.c, which call it;
 * it calls only the sampler (and logs a clamp).
 */
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "host/log.h"

/* What the sampler does of what was asked: a daemon may ask for more than
 * the agent's limits (sampler.h). */
static unsigned capped_hz(const struct oxa_agent *a)
{
	return a->want.hz > OXA_MAX_HZ ? OXA_MAX_HZ : a->want.hz;
}

static unsigned capped_depth(const struct oxa_agent *a)
{
	return a->want.depth > OXA_MAX_DEPTH ? OXA_MAX_DEPTH : a->want.depth;
}

/* The last clamp logged (hz << 32 | depth), so a fleet that asks again
 * and again for the same is told once. */
static _Atomic uint64_t clamp_logged;

int oxa_state_apply(struct oxa_agent *a)
{
	if (!a->want.running)
		return oxa_sampler_disarm();
	unsigned hz = capped_hz(a), depth = capped_depth(a);
	uint64_t asked = (uint64_t)a->want.hz << 32 | a->want.depth;
	if ((hz != a->want.hz || depth != a->want.depth) && clamp_logged != asked) {
		clamp_logged = asked;
		oxa_log(OX_LOG_WARN, "asked for %u Hz, depth %u; sampling at %u Hz, depth %u, "
			"the agent's limits (%u Hz, depth %u)", a->want.hz, a->want.depth, hz, depth,
			OXA_MAX_HZ, OXA_MAX_DEPTH);
	}
	return oxa_sampler_arm(a->want.mode, hz, depth);
}

void oxa_state_adopt(struct oxa_agent *a, const struct oxp_fleet *f, uint64_t seq,
		     int explicit_cmd)
{
	/* An agent started with OXPROF_START=1 keeps sampling until a command
	 * addressed to it says otherwise; the fleet default does not pause it. */
	if (!a->cfg.start_running || explicit_cmd) {
		a->want.running = f->running;
		a->want.mode = f->mode;
		a->want.hz = f->hz;
		a->want.depth = f->depth;
	}
	a->ack_seq = seq;
	oxa_state_apply(a);
}

/* Paused, the sampler has no source; status should still say which one
 * sampled (and will again), so remember the last. */
static _Atomic int last_source;

void oxa_state_fill(struct oxa_agent *a, struct oxp_agent_stats *st, char *src, size_t srclen)
{
	struct oxa_sampler_stats s;
	oxa_sampler_stats(&s);
	if (s.source != OXA_SOURCE_NONE)
		last_source = s.source;
	else
		s.source = last_source;
	memset(st, 0, sizeof(*st));
	st->ack_seq = a->ack_seq;
	st->state = oxa_sampler_armed() ? OXP_AGENT_RUNNING
		    : s.why[0]		 ? OXP_AGENT_DISABLED
					 : OXP_AGENT_PAUSED;
	st->mode = (uint8_t)a->want.mode;
	st->hz_requested = a->want.hz;
	st->hz_achieved = s.achieved_hz;
	oxa_sampler_describe(&s, s.source, src, srclen);
	/* A clamp shows beside the source; hz_requested stays what was asked. */
	size_t n = strlen(src);
	if (capped_hz(a) != a->want.hz && n < srclen)
		n += (size_t)snprintf(src + n, srclen - n, ", capped at %u Hz", OXA_MAX_HZ);
	if (capped_depth(a) != a->want.depth && n < srclen)
		snprintf(src + n, srclen - n, ", depth capped at %u", OXA_MAX_DEPTH);
	st->source = oxp_str_c(src);
	/* Every sample the handler took is sent, dropped, or still held. */
	st->taken = s.taken + s.dropped;
	st->sent = a->sent;
	st->dropped = s.dropped + a->dropped_full + a->dropped_reset;
	st->unwind_fail = s.unwind_fail;
	st->skipped = s.skipped;
	st->cpu_user_ms = s.cpu_user_us / 1000;
	st->cpu_sys_ms = s.cpu_sys_us / 1000;
	st->sampled_user_ms = s.armed_user_us / 1000;
	st->sampled_sys_ms = s.armed_sys_us / 1000;
	st->cpu_covers = a->want.mode != OXP_MODE_CPU ? 0
			 : s.covers_system ? OXP_CPU_USER | OXP_CPU_SYSTEM
					   : OXP_CPU_USER;
}

uint64_t oxa_state_digest(struct oxa_agent *a)
{
	char src[128];
	struct oxp_agent_stats st;
	oxa_state_fill(a, &st, src, sizeof(src));
	uint64_t h = st.taken * 31 + st.sent;
	h = h * 31 + st.dropped;
	h = h * 31 + st.skipped;
	h = h * 31 + st.unwind_fail;
	h = h * 31 + st.state;
	/* CPU time changes all the time: batches carry it while the agent
	 * samples; otherwise the whole process's is worth a message only
	 * every 10 s of CPU, so a busy paused process stays quiet. */
	h = h * 31 + st.cpu_covers;
	h = h * 31 + st.sampled_user_ms + st.sampled_sys_ms;
	h = h * 31 + (st.cpu_user_ms + st.cpu_sys_ms) / 10000;
	return h * 31 + st.ack_seq;
}
