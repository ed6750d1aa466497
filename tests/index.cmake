# The one hash index (common/) and the agent's tables over it, linked
# directly; calloc wrapped so a case can make growth fail.
oxprof_test(test-index SOURCES test-index.c LIBS oxa_core oxcommon)
target_link_options(test-index PRIVATE -Wl,--wrap=calloc)
