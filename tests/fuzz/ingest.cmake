# fuzz-ingest: frame sequences through the daemon's aggregate (daemon/store), with
# budgets, as a connection feeds it.
oxprof_fuzz(ingest SOURCES fuzz/fuzz-ingest.c LIBS oxd_store)
