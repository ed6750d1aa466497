oxprof_test(test-proto SOURCES test-proto.c proto-samples.c LIBS oxp PkgConfig::MSGPACK)
if(OXPROF_SANITIZE MATCHES "address")
  # An allocation above a small multiple of the frame cap is a failure.
  set_tests_properties(test-proto PROPERTIES ENVIRONMENT
    "ASAN_OPTIONS=max_allocation_size_mb=8:allocator_may_return_null=0")
endif()

if(OXPROF_FUZZ)
  add_executable(make-corpus fuzz/make-corpus.c proto-samples.c)
  target_link_libraries(make-corpus PRIVATE oxp)
  oxprof_target_defaults(make-corpus)
  add_executable(fuzz-decode fuzz/fuzz-decode.c)
  target_link_libraries(fuzz-decode PRIVATE oxp)
  target_compile_options(fuzz-decode PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz-decode PRIVATE -fsanitize=fuzzer)
  oxprof_target_defaults(fuzz-decode)
endif()
