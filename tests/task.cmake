# The harness's own test: typed asserts, skips, the test list.
oxprof_test(test-task SOURCES test-task.c)
oxprof_test(test-runner-dirs SOURCES test-runner-dirs.c)
