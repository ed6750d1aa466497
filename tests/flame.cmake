# The flame graph page in headless Chromium (tests/test-flame.c): the real
# daemon, agent and oxprofctl; the pages, DOM dumps and screenshots stay in
# the build tree (tests/flame-out) to look at.  Without Chromium the cases
# are skipped, and reported so.
if(TARGET oxprofd AND TARGET oxprof-agent AND TARGET hotspots AND TARGET oxprofctl)
  set(OXT_FLAME_PRELOAD "")
  if(OXPROF_SANITIZE MATCHES "address")
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE OXT_FLAME_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  oxprof_test(test-flame SOURCES test-flame.c daemon-harness.c daemon-harness-agent.c LIBS oxc)
  target_compile_definitions(test-flame PRIVATE OXPROFD_PATH="$<TARGET_FILE:oxprofd>"
    OXT_OXPROFCTL="$<TARGET_FILE:oxprofctl>" OXT_AGENT="$<TARGET_FILE:oxprof-agent>"
    OXT_HOTSPOTS="$<TARGET_FILE:hotspots>" OXT_PRELOAD="${OXT_FLAME_PRELOAD}"
    OXT_FLAME_OUT="${CMAKE_CURRENT_BINARY_DIR}/flame-out")
  add_dependencies(test-flame oxprofd oxprof-agent hotspots oxprofctl)
  # The runner exits 0 when cases skip; ctest shows the test as skipped
  # from the line a skipped case prints.
  set_tests_properties(test-flame PROPERTIES TIMEOUT 600
    SKIP_REGULAR_EXPRESSION "SKIP: chromium is not installed"
    ENVIRONMENT "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0")
endif()
