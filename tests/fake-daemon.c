/* fake-daemon.c - see fake-daemon.h. */
#include "fake-daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"

void oxt_fake_send(int fd, const struct oxp_msg *m)
{
	struct oxp_buf b;
	oxp_buf_init(&b);
	if (oxp_encode(&b, m) != 0)
		_exit(90);
	oxp_send_all(fd, b.data, b.len, 2000);
	oxp_buf_destroy(&b);
}

int oxt_fake_expect(int fd, struct oxp_reader *r, struct oxp_decoder *d, struct oxp_msg *m,
		    uint32_t type)
{
	if (oxp_recv_msg(fd, r, d, m, 5000) != 0)
		return -1;
	return m->type == type ? 0 : -1;
}

static void fake_welcome(int fd)
{
	struct oxp_msg m = { .type = OXP_MSG_WELCOME };
	m.u.welcome.software = oxp_str_c("oxprofd 9.9.9-fake");
	m.u.welcome.fleet = (struct oxp_fleet){ 1, OXP_MODE_CPU, 250, 64 };
	m.u.welcome.seq = 1;
	m.u.welcome.flush_ms = 100;
	oxt_fake_send(fd, &m);
}

void oxt_fake_reply(int fd, int32_t code, const char *msg, uint32_t affected)
{
	struct oxp_msg m = { .type = OXP_MSG_REPLY };
	m.u.reply.code = code;
	m.u.reply.message = oxp_str_c(msg);
	m.u.reply.affected = affected;
	oxt_fake_send(fd, &m);
}

int oxt_fake_handshake(int fd, struct oxp_reader *r, struct oxp_decoder *d, struct oxp_msg *m)
{
	if (oxt_fake_expect(fd, r, d, m, OXP_MSG_HELLO) || m->u.hello.role != OXP_ROLE_CONTROL)
		return -1;
	fake_welcome(fd);
	return oxt_fake_expect(fd, r, d, m, OXP_MSG_COMMAND);
}

static void fake_serve(int lfd, oxt_fake_fn fn)
{
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		_exit(91);
	struct oxp_reader r;
	struct oxp_decoder *d;
	oxp_reader_init(&r, 0);
	oxp_decoder_new(&d);
	int rc = fn(fd, &r, d);
	/* Let the client read what was sent before the connection goes. */
	shutdown(fd, SHUT_WR);
	char buf[256];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	_exit(rc ? 1 : 0);
}

void oxt_fake_start(struct oxt_fake *f, oxt_fake_fn fn)
{
	oxt_mkdtemp(f->dir, sizeof(f->dir), "oxt-client");
	snprintf(f->sock, sizeof(f->sock), "%s/s.sock", f->dir);
	int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, f->sock);
	ASSERT(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	ASSERT(listen(lfd, 4) == 0);
	fflush(NULL);
	f->pid = fork();
	ASSERT(f->pid >= 0);
	if (f->pid == 0) {
		alarm(20);
		fake_serve(lfd, fn);
	}
	close(lfd);
}

int oxt_fake_finish(struct oxt_fake *f)
{
	int st;
	ASSERT(waitpid(f->pid, &st, 0) == f->pid);
	unlink(f->sock);
	rmdir(f->dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
