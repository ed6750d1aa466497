# fuzz-ingest: frame sequences through the daemon's aggregate (agg.c), with
# budgets, as a connection feeds it.  The daemon is an executable, so the
# modules it needs are compiled in.
set(OXD_DIR ${CMAKE_CURRENT_SOURCE_DIR}/../daemon)
oxprof_fuzz(ingest SOURCES fuzz/fuzz-ingest.c ${OXD_DIR}/agg.c ${OXD_DIR}/budget.c
  ${OXD_DIR}/query.c ${OXD_DIR}/xmalloc.c LIBS)
target_include_directories(fuzz-ingest PRIVATE ${OXD_DIR})
