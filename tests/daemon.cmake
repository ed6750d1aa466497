# The daemon's tests: each starts the real oxprofd on a private socket.
foreach(t basic access fault snapshot hostile durable fleet)
  oxprof_test(test-daemon-${t} SOURCES test-daemon-${t}.c daemon-harness.c LIBS oxp)
  target_compile_definitions(test-daemon-${t} PRIVATE OXPROFD_PATH="$<TARGET_FILE:oxprofd>")
  add_dependencies(test-daemon-${t} oxprofd)
endforeach()
# test-daemon-store: the store linked alone (no daemon, no libuv).
oxprof_test(test-daemon-store SOURCES test-daemon-store.c LIBS oxd_store)
