# The harness's own test: typed asserts, skips, the test list.
oxprof_test(test-task SOURCES test-task.c)
