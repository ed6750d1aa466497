/* agent-harness.c - see agent-harness.h. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent-harness.h"
#include "task.h"

int oxt_run_agent(char *const argv[], const char *const env[], char *out, size_t outlen)
{
	int pfd[2];
	ASSERT(pipe(pfd) == 0);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		setenv("LD_PRELOAD", OXT_PRELOAD, 1);
		if (OXT_ASAN_OPTIONS[0])
			setenv("ASAN_OPTIONS", OXT_ASAN_OPTIONS, 1);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t got = 0;
	ssize_t n;
	char sink[4096];
	while ((n = read(pfd[0], out && got + 1 < outlen ? out + got : sink,
			 out && got + 1 < outlen ? outlen - got - 1 : sizeof(sink))) > 0)
		if (out && got + 1 < outlen)
			got += (size_t)n;
	if (out)
		out[got] = 0;
	close(pfd[0]);
	int st;
	ASSERT(waitpid(pid, &st, 0) == pid);
	return st;
}

pid_t oxt_spawn_agent(char *const argv[], const char *const env[])
{
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		setenv("LD_PRELOAD", OXT_PRELOAD, 1);
		if (OXT_ASAN_OPTIONS[0])
			setenv("ASAN_OPTIONS", OXT_ASAN_OPTIONS, 1);
		for (int i = 0; env && env[i]; i++)
			putenv((char *)env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

int oxt_read_folded(const char *path, const char *const *names, int n, struct oxt_folded *f)
{
	memset(f, 0, sizeof(*f));
	FILE *fp = fopen(path, "r");
	if (!fp)
		return -1;
	static char line[1 << 16];
	while (fgets(line, sizeof(line), fp)) {
		char *sp = strrchr(line, ' ');
		if (!sp)
			continue;
		*sp = 0;
		uint64_t c = strtoull(sp + 1, NULL, 10);
		char *leaf = strrchr(line, ';');
		leaf = leaf ? leaf + 1 : line;
		f->total += c;
		f->lines++;
		for (int i = 0; i < n && i < 8; i++)
			if (!strcmp(leaf, names[i]))
				f->leaf[i] += c;
	}
	fclose(fp);
	return 0;
}

double oxt_children_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

void oxt_tmpdir(char *buf, size_t len)
{
	oxt_mkdtemp(buf, len, "oxt");
}
