# fuzz-ingest: frame sequences through the daemon's aggregate (agg.c), with
# budgets, as a connection feeds it.
oxprof_fuzz(ingest SOURCES fuzz/fuzz-ingest.c LIBS oxd_core)
