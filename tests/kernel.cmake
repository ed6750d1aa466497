# (Named to sort after agent.cmake, which sets OXT_PRELOAD.)
# System time (issue 13): the real agent in tests/progs/syscalls.c, the real
# oxprofd and the real oxprofctl.
if(TARGET oxprofd AND TARGET oxprofctl)
  oxprof_test(test-agent-kernel SOURCES test-agent-kernel.c agent-harness.c
    daemon-harness.c daemon-harness-agent.c
    LIBS oxp)
  target_compile_definitions(test-agent-kernel PRIVATE OXT_PRELOAD="${OXT_PRELOAD}"
    OXT_ASAN_OPTIONS="${OXT_ASAN_OPTIONS}" OXT_SYSCALLS="$<TARGET_FILE:syscalls>"
    OXPROFD_PATH="$<TARGET_FILE:oxprofd>" OXPROFCTL_PATH="$<TARGET_FILE:oxprofctl>")
  add_dependencies(test-agent-kernel syscalls oxprof-agent oxprofd oxprofctl)
  set_tests_properties(test-agent-kernel PROPERTIES TIMEOUT 400)
endif()
