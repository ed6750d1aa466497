# pprof's data from the daemon: build-ids and by=frames queries (issue 14).
oxprof_test(test-daemon-frames SOURCES test-daemon-frames.c daemon-harness.c
  daemon-harness-agent.c LIBS oxp)
target_compile_definitions(test-daemon-frames PRIVATE OXPROFD_PATH="$<TARGET_FILE:oxprofd>")
add_dependencies(test-daemon-frames oxprofd)
