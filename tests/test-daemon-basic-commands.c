/*
 * test-daemon-basic-commands.c - commands reach the selected agents, and
 * only them, each once (part of test-daemon-basic).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "task.h"

/* A child agent that reports the SET_STATEs it gets over a pipe. */
static pid_t spawn_agent(const struct oxt_daemon *d, const char *exe, int *rd)
{
	int p[2];
	ASSERT(pipe(p) == 0);
	pid_t kid = fork();
	ASSERT(kid >= 0);
	if (kid) {
		close(p[1]);
		*rd = p[0];
		return kid;
	}
	close(p[0]);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, d, exe), 0);
	ASSERT(write(p[1], &a.fleet, sizeof(a.fleet)) == sizeof(a.fleet));
	for (;;) {
		struct oxp_set_state ss;
		if (oxt_agent_wait_state(&a, &ss, 20000) < 0)
			_exit(0);
		oxt_agent_report(&a, ss.fleet.running ? OXP_AGENT_RUNNING : OXP_AGENT_PAUSED);
		if (write(p[1], &ss.fleet, sizeof(ss.fleet)) != sizeof(ss.fleet))
			_exit(1);
	}
}

static struct oxp_fleet next_state(int fd)
{
	struct oxp_fleet f;
	ASSERT(read(fd, &f, sizeof(f)) == sizeof(f));
	return f;
}

static int nothing_pending(int fd)
{
	struct timeval tv = { 0, 200000 };
	fd_set s;
	FD_ZERO(&s);
	FD_SET(fd, &s);
	return select(fd + 1, &s, NULL, NULL, &tv) == 0;
}

static int command(const struct oxt_daemon *d, struct oxp_command *c, uint32_t *affected)
{
	struct oxt_peer p;
	struct oxt_result r;
	ASSERT_EQ(oxt_peer_open(&p, d, OXP_ROLE_CONTROL, "oxt", NULL, 0), 0);
	oxt_command(&p, c, &r);
	oxt_peer_close(&p);
	*affected = r.affected;
	return r.code;
}

TEST(daemon_commands_reach_selected_agents)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	int fa, fb, fc;
	pid_t a = spawn_agent(&d, "/usr/bin/alpha", &fa);
	pid_t b = spawn_agent(&d, "/opt/x/beta", &fb);
	pid_t c = spawn_agent(&d, "/opt/y/beta", &fc);
	ASSERT_EQ(next_state(fa).running, 0);
	ASSERT_EQ(next_state(fb).running, 0);
	ASSERT_EQ(next_state(fc).running, 0);
	uint32_t n;
	/* unpause --exe beta: both betas, not alpha. */
	struct oxp_command cmd = oxt_cmd(OXP_CMD_UNPAUSE);
	cmd.sel.exe = oxp_str_c("beta");
	ASSERT_EQ(command(&d, &cmd, &n), 0);
	ASSERT_EQ(n, 2);
	ASSERT_EQ(next_state(fb).running, 1);
	ASSERT_EQ(next_state(fc).running, 1);
	ASSERT(nothing_pending(fa));
	oxt_wait_agent_state(&d, b, OXP_AGENT_RUNNING, 3000);
	oxt_wait_agent_state(&d, a, OXP_AGENT_PAUSED, 3000);
	/* The fleet default did not change. */
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_EQ(st.fleet.running, 0);
	/* pause --pid c, by full path exe of another: one agent. */
	cmd = oxt_cmd(OXP_CMD_PAUSE);
	int32_t pid = c;
	cmd.sel.npids = 1;
	cmd.sel.pids = &pid;
	ASSERT_EQ(command(&d, &cmd, &n), 0);
	ASSERT_EQ(n, 1);
	ASSERT_EQ(next_state(fc).running, 0);
	ASSERT(nothing_pending(fb));
	/* No match: an error, nothing sent. */
	cmd = oxt_cmd(OXP_CMD_UNPAUSE);
	cmd.sel.exe = oxp_str_c("/usr/bin/none");
	ASSERT_EQ(command(&d, &cmd, &n), -OXP_ENOMATCH);
	/* Fleet-wide start with parameters: everyone, and the default. */
	cmd = oxt_cmd(OXP_CMD_START);
	cmd.hz = 250;
	cmd.depth = 32;
	ASSERT_EQ(command(&d, &cmd, &n), 0);
	ASSERT_EQ(n, 3);
	struct oxp_fleet f = next_state(fa);
	ASSERT(f.running == 1 && f.hz == 250 && f.depth == 32 && f.mode == OXP_MODE_CPU);
	ASSERT_EQ(next_state(fb).hz, 250);
	ASSERT_EQ(next_state(fc).running, 1);
	oxt_status(&d, &st);
	ASSERT(st.fleet.running == 1 && st.fleet.hz == 250);
	/* A late joiner adopts the running fleet. */
	struct oxt_agent late;
	ASSERT_EQ(oxt_agent_join(&late, &d, "/bin/late"), 0);
	ASSERT(late.fleet.running == 1 && late.fleet.hz == 250);
	oxt_agent_leave(&late);
	cmd = oxt_cmd(OXP_CMD_STOP);
	ASSERT_EQ(command(&d, &cmd, &n), 0);
	ASSERT_EQ(next_state(fa).running, 0);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	kill(c, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	waitpid(c, NULL, 0);
	oxt_daemon_finish(&d);
}
