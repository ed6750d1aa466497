# Naming frames in real programs (issue 13): a stripped program's static
# functions named from .eh_frame, PLT stubs, the vDSO.  The programs are
# built here the way users build (-O2 -g, frame pointers, no sanitizers),
# and the stripped copy with objcopy, as distributions strip.
add_executable(statics progs/statics.c)
set_target_properties(statics PROPERTIES COMPILE_OPTIONS "-O2;-g;-fno-omit-frame-pointer"
  LINK_OPTIONS "-Wl,--export-dynamic-symbol=exported_before")
add_custom_command(TARGET statics POST_BUILD
  COMMAND ${CMAKE_OBJCOPY} --strip-all $<TARGET_FILE:statics>
    ${CMAKE_CURRENT_BINARY_DIR}/statics-stripped
  COMMENT "Stripping a copy of statics" VERBATIM)

add_library(pltlib SHARED progs/pltlib.c)
set_target_properties(pltlib PROPERTIES COMPILE_OPTIONS "-O2;-g" LINK_OPTIONS "")
# Lazy .plt and .plt.got, and with IBT .plt.sec.
add_executable(pltcall progs/pltcall.c)
set_target_properties(pltcall PROPERTIES COMPILE_OPTIONS "-O2;-g;-fno-omit-frame-pointer"
  LINK_OPTIONS "")
add_executable(pltcall-ibt progs/pltcall.c)
set_target_properties(pltcall-ibt PROPERTIES
  COMPILE_OPTIONS "-O2;-g;-fno-omit-frame-pointer;-fcf-protection=full"
  LINK_OPTIONS "-Wl,-z,ibtplt")
foreach(t pltcall pltcall-ibt)
  target_link_libraries(${t} PRIVATE pltlib)
endforeach()

add_executable(vdsocall progs/vdsocall.c)
set_target_properties(vdsocall PROPERTIES COMPILE_OPTIONS "-O2;-g;-fno-omit-frame-pointer"
  LINK_OPTIONS "")

if(TARGET oxprofd AND TARGET oxprofctl AND TARGET oxprof-agent)
  set(OXT_SYM_PRELOAD "")
  if(OXPROF_SANITIZE MATCHES "address")
    execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
      OUTPUT_VARIABLE OXT_SYM_PRELOAD OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  add_test(NAME symbols-e2e COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/e2e/symbols-e2e.sh
    $<TARGET_FILE:oxprofctl> $<TARGET_FILE:oxprofd> $<TARGET_FILE:oxprof-agent>
    $<TARGET_FILE:statics> ${CMAKE_CURRENT_BINARY_DIR}/statics-stripped
    $<TARGET_FILE:pltcall> $<TARGET_FILE:pltcall-ibt> $<TARGET_FILE:vdsocall>
    "${OXT_SYM_PRELOAD}")
  set_tests_properties(symbols-e2e PROPERTIES TIMEOUT 300
    ENVIRONMENT "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0")
endif()

# The readers on those programs, without sampling.
oxprof_test(test-agent-symbols SOURCES test-agent-symbols.c LIBS oxa_core)
target_compile_definitions(test-agent-symbols PRIVATE OXT_STATICS="$<TARGET_FILE:statics>"
  OXT_STATICS_STRIPPED="${CMAKE_CURRENT_BINARY_DIR}/statics-stripped"
  OXT_PLTCALL="$<TARGET_FILE:pltcall>" OXT_PLTCALL_IBT="$<TARGET_FILE:pltcall-ibt>")
add_dependencies(test-agent-symbols statics pltcall pltcall-ibt)
