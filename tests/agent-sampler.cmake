# The agent's sampling core: the ring on its own, and the sampler driving
# real CPU work in the test process (signals, threads, fork, exec).
oxprof_test(test-agent-ring SOURCES test-agent-ring.c LIBS oxa_core)
oxprof_test(test-agent-sampler SOURCES test-agent-sampler.c test-agent-sampler-host.c sampler-kit.c
  LIBS oxa_core)
# The sampler cases run real work for ~1 s each; keep them off a loaded
# parallel ctest run's critical path by running them serially.
set_tests_properties(test-agent-sampler PROPERTIES RUN_SERIAL ON TIMEOUT 240)
