# oxprofctl can be trusted (issue 12): write errors, -o before the start,
# limits, exit codes, no-match, --version, completion (tests/e2e/client-trust.sh).
# The tmpfs part mounts a full file system in a private mount namespace and
# is skipped (exit 77) where it may not.
if(TARGET oxprofd AND TARGET oxprof-agent AND TARGET hotspots)
  set(OXT_TRUST_CLIENT_PRELOAD "")
  if(OXPROF_SANITIZE MATCHES "address")
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE OXT_TRUST_CLIENT_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  foreach(part main tmpfs)
    add_test(NAME client-trust-${part} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/client-trust.sh
      ${part} $<TARGET_FILE:oxprofctl> $<TARGET_FILE:oxprofd> $<TARGET_FILE:oxprof-agent>
      $<TARGET_FILE:hotspots> ${CMAKE_BINARY_DIR} "${OXT_TRUST_CLIENT_PRELOAD}")
    set_tests_properties(client-trust-${part} PROPERTIES TIMEOUT 180 SKIP_RETURN_CODE 77
      ENVIRONMENT "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0")
  endforeach()
endif()

# The sinks behind every write, and the table of file formats.
oxprof_test(test-client-sink SOURCES test-client-sink.c LIBS oxc)
