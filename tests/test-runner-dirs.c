/*
 * test-runner-dirs.c - the runner gives each case a temp dir of its own
 * (oxt_case_dir), removes it after the case passed and keeps it after a
 * failure, saying where (issue 11: the tests left their temp dirs behind).
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"

/* Runs its body only when the cases below run this binary on it. */
TEST(runner_demo_case)
{
	const char *how = getenv("OXT_RUNNER_DEMO");
	if (!how)
		return;
	char dir[256], file[300];
	oxt_mkdtemp(dir, sizeof(dir), "demo");
	snprintf(file, sizeof(file), "%s/left.txt", dir);
	int fd = open(file, O_WRONLY | O_CREAT, 0644);
	ASSERT(fd >= 0 && close(fd) == 0);
	printf("  case dir %s\n", oxt_case_dir());
	fflush(stdout); /* OXT_FAIL aborts */
	if (strcmp(how, "fail") == 0)
		OXT_FAIL("asked to");
}

/* Run this binary on the demo case; its output (static) and wait status. */
static const char *run_demo(const char *how, int *st)
{
	static char buf[8192];
	char self[256], cmd[400];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ASSERT(n > 0);
	self[n] = 0;
	snprintf(cmd, sizeof(cmd), "OXT_RUNNER_DEMO=%s '%s' runner_demo_case 2>&1", how, self);
	fflush(NULL);
	FILE *p = popen(cmd, "r");
	ASSERT(p);
	size_t len = fread(buf, 1, sizeof(buf) - 1, p);
	buf[len] = 0;
	*st = pclose(p);
	return buf;
}

/* The path after prefix in out, up to the end of its line. */
static void path_after(const char *out, const char *prefix, char *path, size_t len)
{
	const char *p = strstr(out, prefix);
	ASSERT_MSG(p, "expected \"%s\" in:\n%s", prefix, out);
	p += strlen(prefix);
	size_t n = strcspn(p, "\n");
	ASSERT(n > 0 && n < len);
	memcpy(path, p, n);
	path[n] = 0;
}

TEST(runner_removes_a_passing_cases_dir)
{
	int st;
	const char *out = run_demo("pass", &st);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x:\n%s", st, out);
	char dir[256];
	path_after(out, "  case dir ", dir, sizeof(dir));
	ASSERT_MSG(strncmp(dir, "/tmp/oxt-case-", 14) == 0, "case dir %s", dir);
	ASSERT_MSG(access(dir, F_OK) != 0, "%s is still there after a pass", dir);
	ASSERT(!strstr(out, "kept"));
}

TEST(runner_keeps_a_failed_cases_dir_and_says_where)
{
	int st;
	const char *out = run_demo("fail", &st);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status 0x%x:\n%s", st, out);
	char dir[256], kept[256];
	path_after(out, "  case dir ", dir, sizeof(dir));
	path_after(out, "its files are kept in ", kept, sizeof(kept));
	ASSERT_STREQ(kept, dir);
	struct stat sb;
	ASSERT_MSG(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode), "%s is gone after a failure", dir);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ASSERT(system(cmd) == 0);
}
