# The daemon's tests: each starts the real oxprofd on a private socket.
# A binary's cases may span several sources (one subject each): its extras.
set(OXT_DAEMON_EXTRA_basic test-daemon-basic-commands.c test-daemon-basic-life.c)
set(OXT_DAEMON_EXTRA_snapshot test-daemon-snapshot-crafted.c)
set(OXT_DAEMON_EXTRA_hostile hostile.c test-daemon-hostile-claims.c test-daemon-hostile-soak.c)
foreach(t basic access fault snapshot hostile durable fleet)
  oxprof_test(test-daemon-${t} SOURCES test-daemon-${t}.c ${OXT_DAEMON_EXTRA_${t}}
    daemon-harness.c daemon-harness-agent.c
    LIBS oxp)
  target_compile_definitions(test-daemon-${t} PRIVATE OXPROFD_PATH="$<TARGET_FILE:oxprofd>")
  add_dependencies(test-daemon-${t} oxprofd)
endforeach()
# test-daemon-store: the store linked alone (no daemon, no libuv).
oxprof_test(test-daemon-store SOURCES test-daemon-store.c LIBS oxd_store)
