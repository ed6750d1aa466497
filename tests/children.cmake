# Processes that start processes (tests/test-agent-children.c): a forking
# server's short children, `record` of a process tree, --tree, exited
# agents in status.  Real agent, oxprofd and oxprofctl.
if(TARGET oxprofd AND TARGET oxprofctl AND TARGET oxprof-agent)
  oxprof_test(test-agent-children SOURCES test-agent-children.c agent-harness.c
    daemon-harness.c daemon-harness-agent.c LIBS oxp)
  target_compile_definitions(test-agent-children PRIVATE OXT_PRELOAD="${OXT_PRELOAD}"
    OXT_ASAN_OPTIONS="${OXT_ASAN_OPTIONS}" OXT_FORKER="$<TARGET_FILE:forker>"
    OXT_AGENT_LIB="$<TARGET_FILE:oxprof-agent>" OXPROFD_PATH="$<TARGET_FILE:oxprofd>"
    OXT_OXPROFCTL="$<TARGET_FILE:oxprofctl>")
  add_dependencies(test-agent-children forker oxprof-agent oxprofd oxprofctl)
  set_tests_properties(test-agent-children PROPERTIES TIMEOUT 1200)
endif()
