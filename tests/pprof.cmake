# pprof output and demangled names, end to end: the real daemon, agent and
# oxprofctl; go tool pprof reads the files (the test skips, exit 77,
# without go).
if(TARGET oxprofd AND TARGET oxprof-agent AND TARGET hotspots AND TARGET oddnames
   AND TARGET hotspots-nopie)
  set(OXT_PPROF_PRELOAD "")
  if(OXPROF_SANITIZE MATCHES "address")
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE OXT_PPROF_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  add_test(NAME pprof-e2e COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/pprof.sh
    $<TARGET_FILE:oxprofctl> $<TARGET_FILE:oxprofd> $<TARGET_FILE:oxprof-agent>
    $<TARGET_FILE:hotspots> $<TARGET_FILE:oddnames> $<TARGET_FILE:hotspots-nopie>
    "${OXT_PPROF_PRELOAD}")
  set_tests_properties(pprof-e2e PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
    ENVIRONMENT "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0")
  if(TARGET cxxshapes)
    add_test(NAME demangle-e2e COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/demangle.sh
      $<TARGET_FILE:oxprofctl> $<TARGET_FILE:oxprofd> $<TARGET_FILE:oxprof-agent>
      $<TARGET_FILE:cxxshapes>)
    set_tests_properties(demangle-e2e PROPERTIES TIMEOUT 120 SKIP_RETURN_CODE 77
      ENVIRONMENT "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0")
  endif()
endif()

# The encoder alone: its output parsed at the wire level (no go needed).
oxprof_test(test-client-pprof SOURCES test-client-pprof.c LIBS oxc PkgConfig::ZLIB)
