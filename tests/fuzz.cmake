# libFuzzer targets (OXPROF_FUZZ=ON, clang).  Each tests/fuzz/fuzz-NAME.c is
# one target; scripts/fuzz.sh runs every target it finds.  A target that
# needs more than oxp declares its libraries in OXT_FUZZ_LIBS_<name>.
if(OXPROF_FUZZ)
  add_executable(make-corpus fuzz/make-corpus.c proto-samples.c)
  target_link_libraries(make-corpus PRIVATE oxp)
  oxprof_target_defaults(make-corpus)
  # oxprof_fuzz(NAME SOURCES... [LIBS libs...]) builds tests/fuzz-NAME.
  function(oxprof_fuzz name)
    cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
    add_executable(fuzz-${name} ${F_SOURCES})
    target_link_libraries(fuzz-${name} PRIVATE oxp ${F_LIBS})
    target_compile_options(fuzz-${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz-${name} PRIVATE -fsanitize=fuzzer)
    oxprof_target_defaults(fuzz-${name})
    set_property(GLOBAL APPEND PROPERTY OXT_FUZZ_TARGETS fuzz-${name})
  endfunction()
  oxprof_fuzz(decode SOURCES fuzz/fuzz-decode.c)
  # More targets: one file each in tests/fuzz/, registered from fuzz-*.cmake.
  file(GLOB OXT_FUZZ_FRAGMENTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/*.cmake)
  foreach(f ${OXT_FUZZ_FRAGMENTS})
    include(${f})
  endforeach()
  get_property(OXT_FUZZ_ALL GLOBAL PROPERTY OXT_FUZZ_TARGETS)
  add_custom_target(fuzz-all DEPENDS ${OXT_FUZZ_ALL} make-corpus)
endif()
