# fuzz-snapshot: oxprofd's snapshot loader, then STATUS and QUERY on what
# it loaded.  Links the daemon's aggregate, snapshot, status and query code.
set(OXT_D ${PROJECT_SOURCE_DIR}/daemon)
oxprof_fuzz(snapshot SOURCES fuzz/fuzz-snapshot.c ${OXT_D}/snapshot.c ${OXT_D}/agg.c
  ${OXT_D}/status.c ${OXT_D}/query.c ${OXT_D}/log.c ${OXT_D}/xmalloc.c
  LIBS PkgConfig::ZLIB PkgConfig::LIBUV)
target_include_directories(fuzz-snapshot PRIVATE ${OXT_D})
