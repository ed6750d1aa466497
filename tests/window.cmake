# The time axis (issue 15): the store's time slots linked alone, and
# windowed queries with the real daemon, oxprofctl and agent.
if(TARGET oxprofd AND TARGET oxprofctl AND TARGET oxprof-agent AND TARGET split)
  oxprof_test(test-daemon-window SOURCES test-daemon-window.c agent-harness.c
    daemon-harness.c daemon-harness-agent.c LIBS oxd_store oxp)
  target_compile_definitions(test-daemon-window PRIVATE OXPROFD_PATH="$<TARGET_FILE:oxprofd>"
    OXPROFCTL_PATH="$<TARGET_FILE:oxprofctl>" OXT_PRELOAD="${OXT_PRELOAD}"
    OXT_ASAN_OPTIONS="${OXT_ASAN_OPTIONS}" OXT_SPLIT="$<TARGET_FILE:split>")
  add_dependencies(test-daemon-window oxprofd oxprofctl oxprof-agent split)
endif()
