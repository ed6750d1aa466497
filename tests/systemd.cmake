# systemd units: verify, exposure score, socket activation, readiness.
find_program(SYSTEMD_ANALYZE systemd-analyze)
if(SYSTEMD_ANALYZE AND TARGET oxprofd AND TARGET oxprofctl)
  add_test(NAME systemd-units COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/systemd.sh
    ${PROJECT_BINARY_DIR}
    $<TARGET_FILE:oxprofd> $<TARGET_FILE:oxprofctl> "${OXT_PRELOAD}" $<TARGET_FILE:split>)
  if(OXPROF_SANITIZE MATCHES "address")
    set_tests_properties(systemd-units PROPERTIES ENVIRONMENT "ASAN_OPTIONS=verify_asan_link_order=0")
  endif()
endif()

# cmake --install, oxprof.pc, and the installed binaries finding each other.
add_test(NAME install COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/install.sh
  ${PROJECT_BINARY_DIR} $<TARGET_FILE:split>)
set_tests_properties(install PROPERTIES SKIP_RETURN_CODE 77)
