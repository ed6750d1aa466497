# The daemon's small promises with the real programs: socket directory,
# non-sockets at the path, --flush-ms, and sample times over a restart.
if(TARGET oxprofd AND TARGET oxprofctl AND TARGET oxprof-agent AND TARGET hotspots)
  set(OXT_EDGES_PRELOAD "")
  if(OXPROF_SANITIZE MATCHES "address")
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE OXT_EDGES_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  add_test(NAME daemon-edges COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/daemon-edges.sh
    $<TARGET_FILE:oxprofd> $<TARGET_FILE:oxprofctl> $<TARGET_FILE:oxprof-agent>
    $<TARGET_FILE:hotspots> "${OXT_EDGES_PRELOAD}")
  set_tests_properties(daemon-edges PROPERTIES TIMEOUT 300
    ENVIRONMENT "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0")
endif()
