# Man pages: render without warnings, and list every option, command,
# variable and API function the code has (tests/e2e/man.sh).  Exit 77 when
# groff or man is not installed: reported as skipped.
if(TARGET oxprofd AND TARGET oxprofctl)
  add_test(NAME man-pages COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/man.sh
    ${PROJECT_SOURCE_DIR} $<TARGET_FILE:oxprofd> $<TARGET_FILE:oxprofctl>)
  set_tests_properties(man-pages PROPERTIES SKIP_RETURN_CODE 77)
  if(OXPROF_SANITIZE MATCHES "address")
    set_tests_properties(man-pages PROPERTIES ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
  endif()
endif()
