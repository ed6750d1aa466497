/*
 * test-task.c - the test harness itself (task.h, runner.c): what a failed
 * ASSERT_EQ prints for large unsigned values, that a skipped case is counted
 * as skipped, and that --list reads the binary's test list.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "task.h"

/* Run fn in a child with stderr and stdout into a file; returns what it
 * wrote (static buffer) and its wait status in *st. */
static const char *child_output(void (*fn)(void *), void *arg, int *st)
{
	static char buf[8192];
	char path[] = "/tmp/oxt-task-XXXXXX";
	int fd = mkstemp(path);
	ASSERT(fd >= 0);
	unlink(path);
	fflush(NULL);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		fn(arg);
		fflush(NULL);
		_exit(0);
	}
	ASSERT(waitpid(pid, st, 0) == pid);
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

#define ASSERT_HAS(hay, needle) \
	ASSERT_MSG(strstr(hay, needle), "expected \"%s\" in:\n%s", needle, hay)

static void u64_fails(void *arg)
{
	(void)arg;
	uint64_t taken = UINT64_MAX - 1;
	signal(SIGABRT, SIG_DFL);
	ASSERT_EQ(taken, UINT64_MAX);
}

static void mixed_fails(void *arg)
{
	(void)arg;
	size_t len = (size_t)1 << 63;
	int want = -1;
	ASSERT_EQ(want, len);
}

static void signed_fails(void *arg)
{
	(void)arg;
	int64_t delta = -5;
	ASSERT_EQ(delta, 3);
}

TEST(task_assert_eq_prints_u64_unsigned)
{
	int st;
	const char *out = child_output(u64_fails, NULL, &st);
	ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
	ASSERT_HAS(out, "taken == UINT64_MAX (18446744073709551614 != 18446744073709551615)");
	out = child_output(mixed_fails, NULL, &st);
	ASSERT(WIFSIGNALED(st));
	ASSERT_HAS(out, "want == len (18446744073709551615 != 9223372036854775808)");
	/* Signed values stay signed. */
	out = child_output(signed_fails, NULL, &st);
	ASSERT(WIFSIGNALED(st));
	ASSERT_HAS(out, "delta == 3 (-5 != 3)");
	/* Equal values of any mix of types pass. */
	ASSERT_EQ((uint64_t)7, 7);
	ASSERT_EQ(UINT64_MAX, (uint64_t)-1);
	ASSERT_EQ((size_t)0, 0u);
	ASSERT_EQ(-1, (int64_t)-1);
}

/* Skips only when the next case runs it; a plain run passes it. */
TEST(task_demo_skip)
{
	if (getenv("OXT_TASK_DEMO"))
		OXT_SKIP("asked to");
}

#if 0
/* Listed (the list is made from the source text) but compiled out: the
 * runner must leave it out, not crash on it. */
TEST(task_compiled_out)
{
	OXT_FAIL("compiled out, yet run");
}
#endif

static void run_self(void *arg)
{
	char **argv = arg;
	setenv("OXT_TASK_DEMO", "1", 1);
	execv("/proc/self/exe", argv);
	_exit(127);
}

TEST(task_runner_counts_a_skip)
{
	int st;
	char *argv[] = { "test-task", "task_demo_skip", NULL };
	const char *out = child_output(run_self, argv, &st);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x:\n%s", st, out);
	ASSERT_HAS(out, "skip task_demo_skip");
	ASSERT_HAS(out, "SKIP: asked to");
	ASSERT_HAS(out, "\n0 passed, 0 failed, 1 skipped\n");
}

TEST(task_list_is_the_source_order)
{
	int st;
	char *argv[] = { "test-task", "--list", NULL };
	const char *out = child_output(run_self, argv, &st);
	ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status 0x%x:\n%s", st, out);
	ASSERT_STREQ(out, "task_assert_eq_prints_u64_unsigned\n"
			  "task_demo_skip\n"
			  "task_runner_counts_a_skip\n"
			  "task_list_is_the_source_order\n");
}
