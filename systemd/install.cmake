# install.cmake - run by `cmake --install` (install(CODE) in CMakeLists.txt),
# not at configure time: the prefix that counts is the one given then
# (`cmake --install build --prefix /usr`), and the units, the example
# config's place and the paths inside the units follow it.  GNUInstallDirs,
# included here, maps /usr to /etc and /opt/X to /etc/opt/X for the config.
# Set by the caller: OXPROF_SRC (source dir), OXPROF_OUT (a scratch dir),
# OXPROF_SYSTEMD_UNITDIR, and the CMAKE_INSTALL_*DIR values configured.
include(GNUInstallDirs)

function(oxprof_abs out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "${CMAKE_INSTALL_PREFIX}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

set(OXPROF_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}")
set(OXPROF_SYSCONFDIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}")
set(OXPROF_DOCDIR "${CMAKE_INSTALL_FULL_DOCDIR}")
oxprof_abs(unitdir "${OXPROF_SYSTEMD_UNITDIR}")

# One scratch dir per destination: two installs may run at once (tests).
string(MD5 dest "$ENV{DESTDIR}|${CMAKE_INSTALL_PREFIX}")
set(OXPROF_OUT "${OXPROF_OUT}/${dest}")
file(MAKE_DIRECTORY "${OXPROF_OUT}")
configure_file("${OXPROF_SRC}/systemd/oxprofd.service.in" "${OXPROF_OUT}/oxprofd.service" @ONLY)
configure_file("${OXPROF_SRC}/systemd/oxprofd.socket.in" "${OXPROF_OUT}/oxprofd.socket" @ONLY)
# file(INSTALL) puts $DESTDIR in front and records the files in the manifest.
file(INSTALL DESTINATION "${unitdir}" TYPE FILE
     FILES "${OXPROF_OUT}/oxprofd.service" "${OXPROF_OUT}/oxprofd.socket")
file(INSTALL DESTINATION "${OXPROF_SYSCONFDIR}/oxprof" TYPE FILE
     FILES "${OXPROF_SRC}/systemd/oxprofd.conf.example")
