# PhxInstall.cmake - installing so that the installed tree works at any prefix.
#
# phx_install(TARGETS t ... DESTINATION dir [EXPORT set]) is install(TARGETS) plus an
# $ORIGIN-relative RPATH from DESTINATION to the library directory: an installed binary or plugin
# finds libphoenix and libmrpc wherever the tree was installed (`cmake --install --prefix DIR`)
# or moved, with no LD_LIBRARY_PATH. The build tree keeps CMake's absolute build RPATHs.
include_guard(GLOBAL)

function(phx_install)
  cmake_parse_arguments(I "" "DESTINATION;EXPORT" "TARGETS" ${ARGN})
  if(I_UNPARSED_ARGUMENTS OR NOT I_TARGETS OR NOT I_DESTINATION)
    message(FATAL_ERROR "usage: phx_install(TARGETS t ... DESTINATION dir [EXPORT set])")
  endif()
  cmake_path(ABSOLUTE_PATH I_DESTINATION BASE_DIRECTORY "${CMAKE_INSTALL_PREFIX}"
             OUTPUT_VARIABLE dest)
  file(RELATIVE_PATH rel "${dest}" "${CMAKE_INSTALL_FULL_LIBDIR}")
  if(rel STREQUAL "")
    set(rpath "$ORIGIN")
  else()
    set(rpath "$ORIGIN/${rel}")
  endif()
  set_target_properties(${I_TARGETS} PROPERTIES INSTALL_RPATH "${rpath}")
  set(export_args "")
  if(I_EXPORT)
    set(export_args EXPORT ${I_EXPORT})
  endif()
  install(TARGETS ${I_TARGETS} ${export_args}
          RUNTIME DESTINATION "${I_DESTINATION}"
          LIBRARY DESTINATION "${I_DESTINATION}"
          ARCHIVE DESTINATION "${I_DESTINATION}")
endfunction()

# The plugin directory, relative to the prefix (phoenixd finds it from its own place: paths.c).
set(PHX_PLUGIN_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/phoenix/plugins")
# The default configuration: where it is installed and, the same path, where phoenixd looks.
# GNUInstallDirs' FULL_SYSCONFDIR says /etc for prefix /usr while SYSCONFDIR stays "etc", so
# only SYSCONFDIR is used: a relative one follows the prefix (relocatable; /usr gives /usr/etc),
# an absolute one (packagers: -DCMAKE_INSTALL_SYSCONFDIR=/etc) is taken as it is.
set(PHX_CONFIG_INSTALL_DIR "${CMAKE_INSTALL_SYSCONFDIR}/phoenix")
if(IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}")
  set(PHX_CONFIG_FULL_PATH "${PHX_CONFIG_INSTALL_DIR}/phoenix.conf")
else()
  set(PHX_CONFIG_FULL_PATH "${CMAKE_INSTALL_PREFIX}/${PHX_CONFIG_INSTALL_DIR}/phoenix.conf")
endif()

# phx_install_package(NAME CONFIG_IN [PATH_VARS v ...]): installs the CMake package NAME: the
# targets exported as ${NAME}Targets (namespace NAME::), ${NAME}Config.cmake made from CONFIG_IN,
# and a version file (same major version compatible), under ${libdir}/cmake/NAME.
function(phx_install_package name config_in)
  cmake_parse_arguments(P "" "" "PATH_VARS" ${ARGN})
  include(CMakePackageConfigHelpers)
  set(dir "${CMAKE_INSTALL_LIBDIR}/cmake/${name}")
  install(EXPORT ${name}Targets NAMESPACE ${name}:: DESTINATION "${dir}")
  configure_package_config_file("${config_in}" "${CMAKE_CURRENT_BINARY_DIR}/${name}Config.cmake"
                                INSTALL_DESTINATION "${dir}" PATH_VARS ${P_PATH_VARS})
  write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/${name}ConfigVersion.cmake"
                                   COMPATIBILITY SameMajorVersion)
  install(FILES "${CMAKE_CURRENT_BINARY_DIR}/${name}Config.cmake"
                "${CMAKE_CURRENT_BINARY_DIR}/${name}ConfigVersion.cmake" DESTINATION "${dir}")
endfunction()
