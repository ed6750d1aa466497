/*
 * task.h - the test harness: TEST() cases, ASSERT macros that are never
 * compiled out, and a runner (runner.c) that runs each case of the binary's
 * test list (test-list.c) in a forked child with a timeout, so one crash or
 * hang fails one case, not the suite.
 */
#ifndef OXPROF_TESTS_TASK_H
#define OXPROF_TESTS_TASK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct oxt_case {
	const char *name;
	void (*fn)(void);
	int timeout_s;
};

/*
 * The binary's cases in order, NULL-terminated; an entry is NULL when its
 * case was compiled out.  Built by test-list.c from the binary's list of
 * cases, which tests/CMakeLists.txt generates from the lines that open with
 * TEST( or TEST_TIMEOUT( in its sources: write a case at the start of a line.
 */
extern const struct oxt_case *const oxt_list[];
extern const int oxt_nlist;

/* The running case's own temp dir (the runner removes it after a pass or
 * a skip, keeps it after a failure), or /tmp outside the runner. */
const char *oxt_case_dir(void);
/* mkdtemp "PREFIX-XXXXXX" in the case's dir into buf; asserts. */
void oxt_mkdtemp(char *buf, size_t len, const char *prefix);

/* A case: its descriptor, named for the list, and its body. */
#define TEST_TIMEOUT(name, secs)                                           \
	static void test_##name(void);                                     \
	extern const struct oxt_case oxt_case_##name;                      \
	const struct oxt_case oxt_case_##name = { #name, test_##name, secs }; \
	static void test_##name(void)
#define TEST(name) TEST_TIMEOUT(name, 60)

#define OXT_FAIL(...)                                                      \
	do {                                                               \
		fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);     \
		fprintf(stderr, __VA_ARGS__);                              \
		fputc('\n', stderr);                                       \
		abort();                                                   \
	} while (0)

/* A case that cannot run here says why and is counted as skipped, never as
 * passed.  Each case runs in its own child, so exiting is safe. */
#define OXT_SKIP_STATUS 77
#define OXT_SKIP(...)                                                      \
	do {                                                               \
		printf("  SKIP: ");                                        \
		printf(__VA_ARGS__);                                       \
		printf("\n");                                              \
		fflush(stdout);                                            \
		exit(OXT_SKIP_STATUS);                                     \
	} while (0)

#define ASSERT(c)                                                          \
	do {                                                               \
		if (!(c))                                                  \
			OXT_FAIL("%s", #c);                                \
	} while (0)
#define ASSERT_MSG(c, ...)                                                 \
	do {                                                               \
		if (!(c))                                                  \
			OXT_FAIL(__VA_ARGS__);                             \
	} while (0)
/* Whether x is an unsigned 64-bit integer (uint64_t, size_t). */
#define OXT_IS_U64(x) _Generic((x), unsigned long: 1, unsigned long long: 1, default: 0)
/* Equal as integers.  When either side is an unsigned 64-bit value both are
 * compared and printed unsigned, so a large counter does not print as a
 * negative number; otherwise as long long.  Each side is evaluated once. */
#define ASSERT_EQ(a, b)                                                    \
	do {                                                               \
		if (OXT_IS_U64(a) || OXT_IS_U64(b)) {                      \
			unsigned long long oxt_a = (unsigned long long)(a); \
			unsigned long long oxt_b = (unsigned long long)(b); \
			if (oxt_a != oxt_b)                                \
				OXT_FAIL("%s == %s (%llu != %llu)", #a, #b, \
					 oxt_a, oxt_b);                    \
		} else {                                                   \
			long long oxt_a = (long long)(a);                  \
			long long oxt_b = (long long)(b);                  \
			if (oxt_a != oxt_b)                                \
				OXT_FAIL("%s == %s (%lld != %lld)", #a, #b, \
					 oxt_a, oxt_b);                    \
		}                                                          \
	} while (0)
#define ASSERT_STREQ(a, b)                                                 \
	do {                                                               \
		const char *oxt_a = (a), *oxt_b = (b);                     \
		if (strcmp(oxt_a, oxt_b) != 0)                             \
			OXT_FAIL("%s == %s (\"%s\" != \"%s\")", #a, #b,    \
				 oxt_a, oxt_b);                            \
	} while (0)

#endif
