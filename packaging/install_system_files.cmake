# Run by `cmake --install` and CPack (install(SCRIPT) in packaging/CMakeLists.txt): the files
# whose place and contents depend on the prefix *at install time* (libstmf.pc, the units), so
# that one build installs into /usr/local (`cmake --install build`), into /usr (`--prefix /usr`,
# and the .deb) or a scratch DESTDIR alike. With the prefix /usr (Debian's): /etc/stmfd,
# /lib/systemd/system and /usr/lib/tmpfiles.d; with any other prefix P: P/etc/stmfd,
# P/lib/systemd/system, P/lib/tmpfiles.d. file(INSTALL) adds $DESTDIR itself.
# Needs STMF_PACKAGING_DIR (this folder), STMF_BINARY_DIR (where it writes the files it makes)
# and, for libstmf.pc, STMF_INSTALL_PC, STMF_LIBDIR, STMF_INCLUDEDIR, STMF_VERSION.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(STMF_CONFDIR "/etc/stmfd")
  set(unitdir "/lib/systemd/system")
else()
  set(STMF_CONFDIR "${prefix}/etc/stmfd")
  set(unitdir "${prefix}/lib/systemd/system")
endif()
set(STMF_SBINDIR "${prefix}/sbin")
set(STMF_DOCDIR "${prefix}/share/doc/stmfd")
set(tmpfilesdir "${prefix}/lib/tmpfiles.d")

set(out "${STMF_BINARY_DIR}/install-${CMAKE_INSTALL_CONFIG_NAME}")
if(STMF_INSTALL_PC)
  configure_file("${STMF_PACKAGING_DIR}/libstmf.pc.in" "${out}/libstmf.pc" @ONLY)
  file(INSTALL DESTINATION "${prefix}/${STMF_LIBDIR}/pkgconfig" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "${out}/libstmf.pc")
endif()
foreach(unit stmfd.service stmfproxy.service)
  configure_file("${STMF_PACKAGING_DIR}/${unit}.in" "${out}/${unit}" @ONLY)
endforeach()
file(INSTALL DESTINATION "${unitdir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${out}/stmfd.service" "${out}/stmfproxy.service")
file(INSTALL DESTINATION "${tmpfilesdir}" TYPE FILE RENAME stmfd.conf
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ FILES "${STMF_PACKAGING_DIR}/stmfd.tmpfiles")
# The configuration: never overwrite an administrator's file on a reinstall from source
# (the .deb's conffiles handling does the same for the package).
foreach(conf stmfd.json stmfproxy.conf)
  if(EXISTS "$ENV{DESTDIR}${STMF_CONFDIR}/${conf}")
    message(STATUS "Kept (exists): $ENV{DESTDIR}${STMF_CONFDIR}/${conf}")
  else()
    file(INSTALL DESTINATION "${STMF_CONFDIR}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
         FILES "${STMF_PACKAGING_DIR}/${conf}")
  endif()
endforeach()
