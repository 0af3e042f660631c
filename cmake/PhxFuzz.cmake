# Fuzz targets: one libFuzzer binary per untrusted-input surface, and its corpus as a test.
#
#   phx_fuzz_target(NAME SOURCES src.c... [LIBS lib...] [CORPUS dir] [DICT file] [FLAGS -opt...]
#                   [UNDER_TEST file.c...])
#
# SOURCES define LLVMFuzzerTestOneInput() (and may define LLVMFuzzerInitialize() and, under
# PHX_LIBFUZZER, LLVMFuzzerCustomMutator()); they count the inputs the code under test accepted
# in phx_fuzz_accepted (fuzz/fuzz.h). Every build links them with fuzz/replay.c into
# fuzz_NAME_replay and ctest runs it over CORPUS (default: NAME/corpus next to the caller) as
# fuzz_NAME_corpus: every file, its prefixes and its byte flips, with any compiler and sanitizer.
# With -DPHX_FUZZ=ON (clang) it also builds the libFuzzer binary fuzz_NAME, and lists it with its
# corpus, dictionary, libFuzzer FLAGS and the sources of the code UNDER_TEST (paths from the top of
# the tree; run.sh reports their edges) in ${CMAKE_BINARY_DIR}/fuzz-targets.txt for fuzz/run.sh,
# one line per target, fields separated by '|'. A target outside fuzz/ (transports/ucx's
# handshake) is one call in its own CMakeLists.txt.
set(PHX_FUZZ_MANIFEST ${CMAKE_BINARY_DIR}/fuzz-targets.txt)
file(WRITE ${PHX_FUZZ_MANIFEST} "")
if(PHX_FUZZ AND NOT TARGET fuzz_all)
  add_custom_target(fuzz_all)
endif()

function(phx_fuzz_target name)
  cmake_parse_arguments(F "" "CORPUS;DICT" "SOURCES;LIBS;FLAGS;UNDER_TEST" ${ARGN})
  if(NOT F_CORPUS)
    set(F_CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/${name}/corpus)
  endif()
  cmake_path(ABSOLUTE_PATH F_CORPUS BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
  add_executable(fuzz_${name}_replay ${F_SOURCES} ${PHX_SOURCE_DIR}/fuzz/fuzz.c
                 ${PHX_SOURCE_DIR}/fuzz/replay.c)
  target_include_directories(fuzz_${name}_replay PRIVATE ${PHX_SOURCE_DIR}/fuzz)
  target_link_libraries(fuzz_${name}_replay PRIVATE ${F_LIBS})
  add_test(NAME fuzz_${name}_corpus COMMAND fuzz_${name}_replay ${F_CORPUS})
  # third-party leaks tests/lsan.supp explains (libconfig's) do not fail the ASan build
  set_tests_properties(fuzz_${name}_corpus PROPERTIES TIMEOUT 300 LABELS unit
                       SKIP_RETURN_CODE ${PHX_SKIP_CODE} ENVIRONMENT_MODIFICATION
                       "LSAN_OPTIONS=string_append::suppressions=${PHX_SOURCE_DIR}/tests/lsan.supp")
  if(PHX_FUZZ)
    add_executable(fuzz_${name} ${F_SOURCES} ${PHX_SOURCE_DIR}/fuzz/fuzz.c)
    target_include_directories(fuzz_${name} PRIVATE ${PHX_SOURCE_DIR}/fuzz)
    target_compile_definitions(fuzz_${name} PRIVATE PHX_LIBFUZZER=1)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_${name} PRIVATE ${F_LIBS})
    add_dependencies(fuzz_all fuzz_${name})
    if(F_DICT)
      cmake_path(ABSOLUTE_PATH F_DICT BASE_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
    endif()
    list(JOIN F_FLAGS " " flags)
    list(JOIN F_UNDER_TEST " " under_test)
    file(APPEND ${PHX_FUZZ_MANIFEST} "${name}|${CMAKE_CURRENT_BINARY_DIR}/fuzz_${name}|${F_CORPUS}|"
                                     "${F_DICT}|${flags}|${under_test}\n")
  endif()
endfunction()
