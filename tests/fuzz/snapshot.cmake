# fuzz-snapshot: oxprofd's snapshot loader, then STATUS and QUERY on what
# it loaded.
oxprof_fuzz(snapshot SOURCES fuzz/fuzz-snapshot.c LIBS oxd_store)
