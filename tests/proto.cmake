oxprof_test(test-proto SOURCES test-proto.c proto-samples.c LIBS oxp PkgConfig::MSGPACK)
if(OXPROF_SANITIZE MATCHES "address")
  # An allocation above a small multiple of the frame cap is a failure.
  set_tests_properties(test-proto PROPERTIES ENVIRONMENT
    "ASAN_OPTIONS=max_allocation_size_mb=8:allocator_may_return_null=0")
endif()
