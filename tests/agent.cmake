# End-to-end tests of the agent in real programs (stand-alone and with the
# real daemon).  Under ASan the agent needs libasan loaded with it.
add_subdirectory(progs)
set(OXT_PRELOAD "$<TARGET_FILE:oxprof-agent>")
set(OXT_ASAN_OPTIONS "")
if(OXPROF_SANITIZE MATCHES "address")
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
    OUTPUT_VARIABLE OXT_LIBASAN OUTPUT_STRIP_TRAILING_WHITESPACE)
  # Ours first, so our pthread_create interposer is the one programs call.
  set(OXT_PRELOAD "$<TARGET_FILE:oxprof-agent>:${OXT_LIBASAN}")
  set(OXT_ASAN_OPTIONS "verify_asan_link_order=0")
endif()
oxprof_test(test-agent-e2e SOURCES test-agent-e2e.c agent-harness.c)
target_compile_definitions(test-agent-e2e PRIVATE OXT_PRELOAD="${OXT_PRELOAD}"
  OXT_ASAN_OPTIONS="${OXT_ASAN_OPTIONS}" OXT_SPLIT="$<TARGET_FILE:split>")
add_dependencies(test-agent-e2e split jit oxprof-agent)
target_compile_definitions(test-agent-e2e PRIVATE OXT_JIT="$<TARGET_FILE:jit>"
  OXT_LINKED="$<TARGET_FILE:linked>")
add_dependencies(test-agent-e2e linked)
if(TARGET workload)
  target_compile_definitions(test-agent-e2e PRIVATE OXT_WORKLOAD="$<TARGET_FILE:workload>")
  add_dependencies(test-agent-e2e workload)
endif()

# With the real daemon (when it is built).
if(TARGET oxprofd)
  oxprof_test(test-agent-daemon SOURCES test-agent-daemon.c agent-harness.c
    daemon-harness.c daemon-harness-agent.c
    LIBS oxp)
  target_compile_definitions(test-agent-daemon PRIVATE OXT_PRELOAD="${OXT_PRELOAD}"
    OXT_ASAN_OPTIONS="${OXT_ASAN_OPTIONS}" OXT_SPLIT="$<TARGET_FILE:split>"
    OXPROFD_PATH="$<TARGET_FILE:oxprofd>")
  add_dependencies(test-agent-daemon split oxprof-agent oxprofd)
endif()

# The agent in unusual hosts (tests/progs/host.c), and its file readers.
if(TARGET oxprofd)
  oxprof_test(test-agent-host SOURCES test-agent-host.c agent-harness.c
    daemon-harness.c daemon-harness-agent.c
    LIBS oxa_core oxp)
  target_compile_definitions(test-agent-host PRIVATE OXT_PRELOAD="${OXT_PRELOAD}"
    OXT_ASAN_OPTIONS="${OXT_ASAN_OPTIONS}" OXT_SPLIT="$<TARGET_FILE:split>"
    OXT_HOST="$<TARGET_FILE:host>" OXT_AGENT_LIB="$<TARGET_FILE:oxprof-agent>"
    OXPROFD_PATH="$<TARGET_FILE:oxprofd>")
  add_dependencies(test-agent-host split host oxprof-agent oxprofd)
endif()

# The agent's sampling side inside ordinary hosts: a host that takes SIGPROF
# after start, thread creation while paused, short threads.
oxprof_test(test-agent-signals SOURCES test-agent-signals.c agent-harness.c LIBS oxa_core)
target_compile_definitions(test-agent-signals PRIVATE OXT_PRELOAD="${OXT_PRELOAD}"
  OXT_ASAN_OPTIONS="${OXT_ASAN_OPTIONS}" OXT_HOSTPROF="$<TARGET_FILE:hostprof>"
  OXT_SHORTTHREADS="$<TARGET_FILE:shortthreads>")
add_dependencies(test-agent-signals hostprof shortthreads oxprof-agent)
set_tests_properties(test-agent-signals PROPERTIES RUN_SERIAL ON TIMEOUT 600)
# The agent's wanted and reported state over the real sampler.
oxprof_test(test-agent-state SOURCES test-agent-state.c LIBS oxa_core)
