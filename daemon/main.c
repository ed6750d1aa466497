/*
 * main.c - oxprofd: wires the configuration, the event loop, the listener
 * and the signals together.  Everything else lives in its module.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#include "config.h"
#include "log.h"
#include "ox/xalloc.h"
#include "daemon.h"
#include "peer.h"

/* Out of memory is fatal (see ox/xalloc.h); the line carries the journal's
 * "critical" priority, and no stdio buffer is used: it may need memory. */
static void on_oom(size_t n)
{
	char msg[96];
	int len = snprintf(msg, sizeof(msg), "<2>oxprofd: out of memory (%zu bytes)\n", n);
	if (len > 0 && write(2, msg, (size_t)len) < 0)
		abort();
	abort();
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct oxd_server *s = h->data;
	if (signum == SIGHUP) {
		/* Options are read only at start: SIGHUP only saves now, and
		 * says so (the unit offers no reload). */
		oxd_info("SIGHUP: writing a snapshot (options are read only at start)");
		oxd_server_snapshot(s, 1);
		return;
	}
	oxd_server_stop(s, strsignal(signum));
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* SIGTERM/SIGINT stop gracefully, SIGHUP snapshots.  Installed before
 * anything slow, so a signal during start-up is handled by the loop, not
 * by the default action. */
static void watch_signals(uv_loop_t *loop, uv_signal_t sh[3], struct oxd_server *srv)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	for (int i = 0; i < 3; i++) {
		uv_signal_init(loop, &sh[i]);
		sh[i].data = srv;
		uv_signal_start(&sh[i], on_signal, sigs[i]);
		uv_unref((uv_handle_t *)&sh[i]); /* the loop ends with the last connection */
	}
}

/* Every connection is a descriptor: make room for as many as the options
 * allow, within the hard limit. */
static void raise_nofile(const struct oxd_config *cfg)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)cfg->max_conns + cfg->control_reserve + 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		oxd_warn("only %llu file descriptors (RLIMIT_NOFILE) for --max-connections %u "
			 "+ --control-reserve %u", (unsigned long long)rl.rlim_cur, cfg->max_conns,
			 cfg->control_reserve);
}

int main(int argc, char **argv)
{
	static struct oxd_config cfg;
	static struct oxd_server srv;
	ox_xalloc_on_oom(on_oom);
	int r = oxd_config_load(&cfg, argc, argv);
	if (r != 0)
		return r > 0 ? 0 : 2;
	oxd_log_init(cfg.log_level);
	raise_nofile(&cfg);
	/* A peer that hangs up mid-write must cost an EPIPE, not the daemon. */
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigaction(SIGPIPE, &sa, NULL);

	uv_loop_t *loop = uv_default_loop();
	uv_signal_t sh[3];
	watch_signals(loop, sh, &srv);
	oxd_server_init(&srv, loop, &cfg, &oxd_peer_ops);
	r = oxd_server_listen(&srv);
	if (r == 0)
		uv_run(loop, UV_RUN_DEFAULT);
	uv_walk(loop, on_walk_close, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	oxd_server_destroy(&srv);
	oxd_config_destroy(&cfg);
	if (r == 0)
		oxd_notice("stopped");
	return r == 0 ? 0 : 1;
}
