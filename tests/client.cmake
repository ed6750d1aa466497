# oxprofctl: unit tests (parsing, output formats), protocol tests against a
# scripted fake daemon (errors the real one rarely produces), and end-to-end
# tests with the real daemon and the agent in a real program.
oxprof_test(test-client-unit SOURCES test-client-unit.c LIBS oxc)

oxprof_test(test-client-fake SOURCES test-client-fake.c fake-daemon.c LIBS oxc)
target_compile_definitions(test-client-fake PRIVATE OXT_OXPROFCTL="$<TARGET_FILE:oxprofctl>")
add_dependencies(test-client-fake oxprofctl)

if(TARGET oxprofd AND TARGET oxprof-agent AND TARGET hotspots)
  # Under ASan the agent needs the sanitizer runtime loaded before it.
  set(OXT_CLIENT_PRELOAD "")
  if(OXPROF_SANITIZE MATCHES "address")
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE OXT_CLIENT_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  add_test(NAME client-e2e COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/client-e2e.sh
    $<TARGET_FILE:oxprofctl> $<TARGET_FILE:oxprofd> $<TARGET_FILE:oxprof-agent>
    $<TARGET_FILE:hotspots> "${OXT_CLIENT_PRELOAD}")
  set_tests_properties(client-e2e PROPERTIES TIMEOUT 120
    ENVIRONMENT "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0")
endif()
