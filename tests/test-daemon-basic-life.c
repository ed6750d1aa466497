/*
 * test-daemon-basic-life.c - oxprofd's own life: its socket and runtime
 * dir, config file and options, systemd's notify and LISTEN_FDS, BYE at
 * stop (part of test-daemon-basic).
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

TEST(daemon_refuses_live_socket_replaces_stale)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	/* A second daemon on the same socket refuses to start. */
	pid_t second = oxt_daemon_spawn(&d, NULL);
	int st;
	ASSERT(waitpid(second, &st, 0) == second);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	ASSERT(oxt_daemon_log_has(&d, "already listening"));
	ASSERT(oxt_daemon_alive(&d));
	/* The first still serves; a kill -9 leaves a stale file, replaced. */
	oxt_daemon_kill9(&d);
	ASSERT(access(d.sock, F_OK) == 0);
	oxt_daemon_restart(&d, NULL);
	ASSERT(oxt_daemon_log_has(&d, "removing stale socket"));
	oxt_daemon_stop(&d);
	ASSERT(access(d.sock, F_OK) != 0); /* removed at exit */
	oxt_daemon_cleanup(&d);
}

/* An explicit --socket in a missing directory is an error (only a default
 * runtime directory is the daemon's to create); in one that exists, the
 * socket is 0666 and the directory is left as it is. */
TEST(daemon_explicit_socket_dir_and_socket_modes)
{
	struct oxt_daemon d;
	char sock[400], dir[400];
	oxt_daemon_init(&d);
	snprintf(dir, sizeof(dir), "%s/run", d.dir);
	snprintf(sock, sizeof(sock), "%s/run/oxprof/oxprof.sock", d.dir);
	strcpy(d.sock, sock);
	int st;
	pid_t p = oxt_daemon_spawn(&d, NULL);
	ASSERT(p > 0 && waitpid(p, &st, 0) == p);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	ASSERT(access(dir, F_OK) < 0 && errno == ENOENT);
	ASSERT(mkdir(dir, 0755) == 0);
	strcat(dir, "/oxprof");
	ASSERT(mkdir(dir, 0755) == 0);
	oxt_daemon_restart(&d, NULL);
	struct stat s1, s2;
	ASSERT(stat(sock, &s1) == 0);
	ASSERT_EQ(s1.st_mode & 0777, 0666);
	*strrchr(sock, '/') = 0;
	ASSERT(stat(sock, &s2) == 0);
	ASSERT_EQ(s2.st_mode & 0777, 0755);
	oxt_daemon_finish(&d);
}

TEST(daemon_config_file_and_bad_options)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	char conf[400];
	snprintf(conf, sizeof(conf), "%s/oxprofd.conf", d.dir);
	FILE *f = fopen(conf, "w");
	ASSERT(f);
	fprintf(f, "# test\nhz = 333\n  mode=wall\n\nallow-user = 0\n");
	fclose(f);
	const char *args[] = { "--config", conf, "--depth", "77", NULL };
	oxt_daemon_restart(&d, args);
	struct oxt_status st;
	oxt_status(&d, &st);
	ASSERT(st.fleet.hz == 333 && st.fleet.mode == OXP_MODE_WALL && st.fleet.depth == 77);
	oxt_daemon_stop(&d);
	const char *bad[] = { "--hz", "0", NULL };
	pid_t p = oxt_daemon_spawn(&d, bad);
	int s;
	waitpid(p, &s, 0);
	ASSERT(WIFEXITED(s) && WEXITSTATUS(s) == 2);
	f = fopen(conf, "w");
	fprintf(f, "no-such-option = 1\n");
	fclose(f);
	const char *bad2[] = { "--config", conf, NULL };
	p = oxt_daemon_spawn(&d, bad2);
	waitpid(p, &s, 0);
	ASSERT(WIFEXITED(s) && WEXITSTATUS(s) == 2);
	oxt_daemon_cleanup(&d);
}

TEST(daemon_notifies_systemd_and_takes_listen_fds)
{
	struct oxt_daemon d;
	oxt_daemon_init(&d);
	/* A listening socket made here, passed as fd 3 like systemd does. */
	int ls = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	ASSERT(snprintf(sa.sun_path, sizeof(sa.sun_path), "%.80s/activated.sock", d.dir) < 100);
	ASSERT(bind(ls, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	ASSERT(listen(ls, 16) == 0);
	int ns = socket(AF_UNIX, SOCK_DGRAM, 0);
	struct sockaddr_un na = { .sun_family = AF_UNIX };
	ASSERT(snprintf(na.sun_path, sizeof(na.sun_path), "%.80s/notify", d.dir) < 100);
	ASSERT(bind(ns, (struct sockaddr *)&na, sizeof(na)) == 0);
	pid_t kid = fork();
	if (kid == 0) {
		char pid[32];
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		dup2(ls, 3);
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", "1", 1);
		setenv("NOTIFY_SOCKET", na.sun_path, 1);
		setenv("JOURNAL_STREAM", "8:1234", 1);
		int fd = open(d.log, O_WRONLY | O_APPEND);
		dup2(fd, 2);
		execl(OXPROFD_PATH, OXPROFD_PATH, "--socket", "/nonexistent/never-used.sock", NULL);
		_exit(127);
	}
	close(ls);
	char buf[64] = { 0 };
	struct timeval tv = { 10, 0 };
	setsockopt(ns, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ASSERT(recv(ns, buf, sizeof(buf) - 1, 0) > 0);
	ASSERT_STREQ(buf, "READY=1");
	d.pid = kid;
	strcpy(d.sock, sa.sun_path);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/bin/activated"), 0);
	oxt_agent_leave(&a);
	oxt_daemon_stop(&d);
	ASSERT(access(sa.sun_path, F_OK) == 0); /* systemd's socket is left alone */
	ASSERT(oxt_daemon_log_has(&d, "<5>oxprofd"));
	oxt_daemon_cleanup(&d);
}

TEST(daemon_stop_says_bye)
{
	struct oxt_daemon d;
	oxt_daemon_start(&d, NULL);
	struct oxt_agent a;
	ASSERT_EQ(oxt_agent_join(&a, &d, "/bin/x"), 0);
	ASSERT(kill(d.pid, SIGTERM) == 0);
	struct oxp_msg m;
	ASSERT_EQ(oxt_recv(&a.p, &m, 5000), 0);
	ASSERT_EQ(m.type, OXP_MSG_BYE);
	int st;
	waitpid(d.pid, &st, 0);
	ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	oxt_agent_leave(&a);
	oxt_daemon_cleanup(&d);
}
