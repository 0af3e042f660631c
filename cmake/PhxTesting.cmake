# phx_add_unit_test(NAME SOURCES... [LIBS ...] [TIMEOUT s] [LABELS ...])
# Builds one CUnit executable and registers it with ctest under the same name.
#
# A test that cannot check what it is for on this machine (no MPI, not root, one CPU) prints
# "SKIPPED: <reason>" and exits PHX_SKIP_CODE (phx_test_skip() in tests/lib/phx_test.h), which
# ctest reports as "Not Run" instead of a pass; CI (check.sh with CI=true) fails on any.
enable_testing()
set(PHX_SKIP_CODE 77)

# Sets SKIP_RETURN_CODE on every test the calling directory added, so that no add_test() can
# forget it: each CMakeLists.txt under tests/ that adds tests calls it last. (CMake 3.25 sets test
# properties only from the directory that added the test.) It also gives every test the
# environment all of them need: PHOENIX_PLUGIN_TRUSTED_DIRS vouches for the build tree, whose
# plugins the services load and which may lie under a directory anyone can write (a checkout in
# /tmp); phoenixd's plugin trust rules (docs/admin.md) would refuse them otherwise.
function(phx_tests_skip_code)
  get_property(tests DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR} PROPERTY TESTS)
  if(tests)
    set_tests_properties(${tests} PROPERTIES SKIP_RETURN_CODE ${PHX_SKIP_CODE})
    set_property(TEST ${tests} APPEND PROPERTY ENVIRONMENT_MODIFICATION
                 "PHOENIX_PLUGIN_TRUSTED_DIRS=set:${CMAKE_BINARY_DIR}")
  endif()
endfunction()

function(phx_add_unit_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE phx_testlib ${T_LIBS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "unit;${T_LABELS}"
                       SKIP_RETURN_CODE ${PHX_SKIP_CODE})
endfunction()
