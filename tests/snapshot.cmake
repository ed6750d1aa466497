# test-daemon-snapshot crafts snapshots with the daemon's own writer (good
# checksums, bad values), so it links the daemon's store.
if(TARGET test-daemon-snapshot)
  target_link_libraries(test-daemon-snapshot PRIVATE oxd_store)
endif()
