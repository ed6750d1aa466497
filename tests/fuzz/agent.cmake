# The agent's parsers of files other programs write: ELF files (its symbol
# reader) and JIT perf maps.  Built from the agent's sources directly, so
# they carry the fuzzer's coverage instrumentation.
set(OXT_AGENT_SRC ${PROJECT_SOURCE_DIR}/agent)
oxprof_fuzz(elf SOURCES fuzz/fuzz-elf.c ${OXT_AGENT_SRC}/drain/elfsyms.c ${OXT_AGENT_SRC}/drain/elfimage.c
  ${OXT_AGENT_SRC}/drain/ehframe.c ${OXT_AGENT_SRC}/drain/plt.c ${OXT_AGENT_SRC}/host/fds.c
  LIBS PkgConfig::LIBUNWIND dl)
target_include_directories(fuzz-elf PRIVATE ${OXT_AGENT_SRC} ${OXT_AGENT_SRC}/drain)
oxprof_fuzz(perfmap SOURCES fuzz/fuzz-perfmap.c ${OXT_AGENT_SRC}/drain/symbols.c
  ${OXT_AGENT_SRC}/drain/elfsyms.c ${OXT_AGENT_SRC}/drain/elfimage.c ${OXT_AGENT_SRC}/drain/ehframe.c
  ${OXT_AGENT_SRC}/drain/plt.c ${OXT_AGENT_SRC}/drain/buildid.c ${OXT_AGENT_SRC}/drain/strtab.c
  ${OXT_AGENT_SRC}/host/fds.c
  LIBS PkgConfig::LIBUNWIND dl)
target_include_directories(fuzz-perfmap PRIVATE ${OXT_AGENT_SRC} ${OXT_AGENT_SRC}/drain)
