/*
 * test-daemon-access.c - who may control, query and report: the kernel's
 * word (SO_PEERCRED), root and the daemon's user, --allow-user,
 * --allow-group, --agent-group.
 */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-harness.h"
#include "task.h"

#define NOBODY 65534

static int skip_unless_root(void)
{
	if (geteuid() == 0)
		return 0;
	OXT_SKIP("not root, cannot run a client as uid %d", NOBODY);
}

/* In a child running as nobody: HELLO as role; exit code 0 welcomed,
 * 1 refused with EPERM naming uid 65534, 2 anything else. */
static int as_nobody(const struct oxt_daemon *d, int role, int send_command)
{
	fflush(NULL);
	pid_t kid = fork();
	ASSERT(kid >= 0);
	if (kid == 0) {
		gid_t g = NOBODY;
		if (setgroups(1, &g) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
			_exit(3);
		struct oxt_peer p;
		char err[512] = "";
		int r = oxt_peer_open(&p, d, role, "/bin/nobody", err, sizeof(err));
		if (r == -EPERM) {
			printf("  refused: %s\n", err);
			_exit(strstr(err, "permission denied: uid 65534 is not allowed") ||
			       strstr(err, "uid 65534 may not report") ? 1 : 2);
		}
		if (r != 0)
			_exit(2);
		if (send_command) {
			struct oxp_command c = oxt_cmd(OXP_CMD_UNPAUSE);
			struct oxt_result res;
			oxt_command(&p, &c, &res);
			_exit(res.code == 0 ? 0 : 2);
		}
		_exit(0);
	}
	int st;
	ASSERT(waitpid(kid, &st, 0) == kid);
	ASSERT(WIFEXITED(st));
	return WEXITSTATUS(st);
}

TEST(daemon_access_nobody_is_refused_and_nothing_changes)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/bin/watched"), 0);
	ASSERT_EQ(as_nobody(&d, OXP_ROLE_CONTROL, 1), 1);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_EQ(st.fleet.running, 0);
	ASSERT(st.refused_conns >= 1);
	struct oxp_set_state ss;
	ASSERT_EQ(oxt_agent_wait_state(&a, &ss, 200), -ETIMEDOUT);
	ASSERT(oxt_daemon_log_has(&d, "uid 65534"));
	/* Agents of any uid may report. */
	ASSERT_EQ(as_nobody(&d, OXP_ROLE_AGENT, 0), 0);
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}

TEST(daemon_access_allow_group_and_user)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	const char *by_group[] = { "--allow-group", "65534", NULL };
	oxt_daemon_start(&d, by_group);
	ASSERT_EQ(as_nobody(&d, OXP_ROLE_CONTROL, 1), 0);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT_EQ(st.fleet.running, 1); /* nobody's unpause took effect */
	oxt_daemon_stop(&d);
	const char *by_user[] = { "--allow-user", "nobody", "--allow-group", "0", NULL };
	oxt_daemon_restart(&d, by_user);
	ASSERT_EQ(as_nobody(&d, OXP_ROLE_CONTROL, 1), 0);
	oxt_daemon_stop(&d);
	const char *other[] = { "--allow-user", "1", NULL };
	oxt_daemon_restart(&d, other);
	ASSERT_EQ(as_nobody(&d, OXP_ROLE_CONTROL, 0), 1);
	oxt_daemon_finish(&d);
}

TEST(daemon_access_agent_group_restricts_reporting)
{
	if (skip_unless_root())
		return;
	struct oxt_daemon d;
	const char *args[] = { "--agent-group", "4242", NULL };
	oxt_daemon_start(&d, args);
	ASSERT_EQ(as_nobody(&d, OXP_ROLE_AGENT, 0), 1);
	struct oxt_agent a; /* root may always report */
	ASSERT_EQ(oxt_agent_join(&a, &d, "/bin/root"), 0);
	oxt_agent_leave(&a);
	oxt_daemon_finish(&d);
}
