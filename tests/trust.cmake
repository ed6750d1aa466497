# The socket trust rule for oxprofctl and oxprofd (nobody squatting the
# /tmp fallback), in a private mount namespace; needs root, else skips.
if(TARGET oxprofd AND TARGET oxprofctl AND TARGET oxprof-agent)
  set(OXT_TRUST_PRELOAD "")
  if(OXPROF_SANITIZE MATCHES "address")
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE OXT_TRUST_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  oxprof_test(test-trust SOURCES test-trust.c daemon-harness.c daemon-harness-agent.c LIBS oxp)
  target_compile_definitions(test-trust PRIVATE OXPROFD_PATH="$<TARGET_FILE:oxprofd>"
    OXPROFCTL_PATH="$<TARGET_FILE:oxprofctl>" OXT_PRELOAD="${OXT_TRUST_PRELOAD}")
  add_dependencies(test-trust oxprofd oxprofctl oxprof-agent)
endif()
