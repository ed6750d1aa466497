# test-daemon-snapshot crafts snapshots with the daemon's own writer (good
# checksums, bad values), so it links the daemon's aggregate and snapshot code.
if(TARGET test-daemon-snapshot)
  target_sources(test-daemon-snapshot PRIVATE
    ${PROJECT_SOURCE_DIR}/daemon/snapshot.c ${PROJECT_SOURCE_DIR}/daemon/agg.c
    ${PROJECT_SOURCE_DIR}/daemon/log.c ${PROJECT_SOURCE_DIR}/daemon/xmalloc.c)
  target_include_directories(test-daemon-snapshot PRIVATE ${PROJECT_SOURCE_DIR}/daemon)
  target_link_libraries(test-daemon-snapshot PRIVATE PkgConfig::ZLIB)
endif()
