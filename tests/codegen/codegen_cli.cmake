# codegen_cli.cmake - runs protoc with protoc-gen-mrpc as a user would and checks what comes out.
#
#   cmake -DMODE=... -DPROTOC=protoc -DPROTOC_GEN_C=protoc-gen-c -DPLUGIN=protoc-gen-mrpc
#         -DPROTO_DIRS=dir|dir -DPROTOS=a.proto|b.proto -DWORK_DIR=scratch [...] -P codegen_cli.cmake
#
# MODE refuse            protoc fails (exit != 0) and its stderr holds EXPECT verbatim, ahead of
#                        anything protoc-c says (protoc-gen-mrpc runs first, as in mrpc_generate()).
# MODE deterministic     two runs over PROTOS give byte-identical files.
# MODE ids_ignore_order  the two PROTOS (same services, other declaration order) define the same
#                        id macros with the same values.
# MODE messages_only     without all_files, the single PROTOS (messages, no services) still gets a
#                        pair, whose header declares EXPECT (a builder), and no empty pair is
#                        written for a file with neither.
# MODE version_guard     the stubs of PROTOS compile (CC, INCLUDE_DIRS) against this mrpc.h and
#                        #error against one of another API version.
# MODE standalone        PROJECT_DIR (see standalone/) builds rpc_hello.proto with the plugin found
#                        through MRPC_PROTOC_GEN_MRPC, and fails its build on a streaming method
#                        with protoc-gen-mrpc's message in the build output.
# Lists come '|'-separated because ctest would split ';'.
cmake_minimum_required(VERSION 3.20)

foreach(list_var PROTO_DIRS PROTOS INCLUDE_DIRS)
  string(REPLACE "|" ";" ${list_var} "${${list_var}}")
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

function(fail)
  string(JOIN "" text ${ARGN})
  message(FATAL_ERROR "FAILED: ${text}")
endfunction()

# Runs protoc over PROTOS into OUT_DIR the way mrpc_generate() does (MRPC_OPT: its
# --mrpc_opt, all_files unless set); sets <prefix>_RC, _ERR.
function(run_protoc prefix out_dir)
  file(MAKE_DIRECTORY "${out_dir}")
  list(TRANSFORM PROTO_DIRS PREPEND "--proto_path=" OUTPUT_VARIABLE path_args)
  if(NOT DEFINED MRPC_OPT)
    set(MRPC_OPT "--mrpc_opt=all_files")
  endif()
  execute_process(
    COMMAND "${PROTOC}" ${path_args}
            "--plugin=protoc-gen-mrpc=${PLUGIN}" ${MRPC_OPT} "--mrpc_out=${out_dir}"
            "--plugin=protoc-gen-c=${PROTOC_GEN_C}" "--c_out=${out_dir}"
            ${ARGN}
    RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE out)
  set(${prefix}_RC "${rc}" PARENT_SCOPE)
  set(${prefix}_ERR "${err}${out}" PARENT_SCOPE)
endfunction()

function(expect_success prefix)
  if(NOT "${${prefix}_RC}" STREQUAL "0")
    fail("protoc exited with ${${prefix}_RC}:\n${${prefix}_ERR}")
  endif()
endfunction()

function(check_refuse)
  run_protoc(gen "${WORK_DIR}/out" ${PROTOS})
  message(STATUS "protoc said:\n${gen_ERR}")
  if("${gen_RC}" STREQUAL "0")
    fail("protoc succeeded on ${PROTOS}")
  endif()
  string(FIND "${gen_ERR}" "--mrpc_out: " at_ours)
  string(FIND "${gen_ERR}" "${EXPECT}" at_expect)
  if(NOT at_ours EQUAL 0 OR at_expect EQUAL -1)
    fail("stderr should start with '--mrpc_out: ' and hold '${EXPECT}'")
  endif()
endfunction()

function(check_deterministic)
  run_protoc(one "${WORK_DIR}/one" ${PROTOS})
  expect_success(one)
  run_protoc(two "${WORK_DIR}/two" ${PROTOS})
  expect_success(two)
  file(GLOB_RECURSE files RELATIVE "${WORK_DIR}/one" "${WORK_DIR}/one/*.mrpc.*")
  file(GLOB_RECURSE files_two RELATIVE "${WORK_DIR}/two" "${WORK_DIR}/two/*.mrpc.*")
  list(LENGTH files n)
  if(n EQUAL 0 OR NOT files STREQUAL files_two)
    fail("different or no outputs: '${files}' vs '${files_two}'")
  endif()
  foreach(f IN LISTS files)
    file(SHA256 "${WORK_DIR}/one/${f}" sum_one)
    file(SHA256 "${WORK_DIR}/two/${f}" sum_two)
    if(NOT sum_one STREQUAL sum_two)
      fail("${f} differs between two runs")
    endif()
  endforeach()
  message(STATUS "${n} generated files identical across runs")
endfunction()

# The sorted "#define X_ID 0x...u" lines of one generated header, alignment ignored.
function(id_defines out header)
  file(STRINGS "${header}" lines REGEX "^#define [A-Z0-9_]+_ID +0x[0-9a-f]+u")
  list(TRANSFORM lines REPLACE " +" " ")
  list(TRANSFORM lines REPLACE " /\\*.*" "")
  list(SORT lines)
  set(${out} "${lines}" PARENT_SCOPE)
endfunction()

function(check_ids_ignore_order)
  list(GET PROTOS 0 proto_a)
  list(GET PROTOS 1 proto_b)
  run_protoc(a "${WORK_DIR}/a" "${proto_a}")
  expect_success(a)
  run_protoc(b "${WORK_DIR}/b" "${proto_b}")
  expect_success(b)
  string(REGEX REPLACE "\\.proto$" ".mrpc.h" header_a "${proto_a}")
  string(REGEX REPLACE "\\.proto$" ".mrpc.h" header_b "${proto_b}")
  id_defines(ids_a "${WORK_DIR}/a/${header_a}")
  id_defines(ids_b "${WORK_DIR}/b/${header_b}")
  list(LENGTH ids_a n)
  if(NOT n EQUAL 6 OR NOT ids_a STREQUAL ids_b)
    fail("ids differ or are missing:\n${ids_a}\nvs\n${ids_b}")
  endif()
  message(STATUS "same ${n} ids in either order")
endfunction()

# Configures and builds PROJECT_DIR for PROTO (under the first of PROTO_DIRS that holds it); sets
# <prefix>_RC, _OUT.
function(build_standalone prefix proto)
  set(build "${WORK_DIR}/${prefix}")
  foreach(dir ${PROTO_DIRS})
    if(NOT proto_dir AND EXISTS "${dir}/${proto}")
      set(proto_dir "${dir}")
    endif()
  endforeach()
  if(NOT proto_dir)
    fail("${proto} is in none of ${PROTO_DIRS}")
  endif()
  string(JOIN ";" include_dirs ${INCLUDE_DIRS})
  execute_process(
    COMMAND "${CMAKE_COMMAND}" -S "${PROJECT_DIR}" -B "${build}"
            "-DMRPC_GENERATE_CMAKE=${GENERATE_CMAKE}" "-DMRPC_PROTOC_GEN_MRPC=${PLUGIN}"
            "-DUSER_PROTO=${proto_dir}/${proto}" "-DUSER_IMPORT_DIR=${proto_dir}"
            "-DUSER_INCLUDE_DIRS=${include_dirs}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    fail("configuring the standalone project failed:\n${out}")
  endif()
  execute_process(COMMAND "${CMAKE_COMMAND}" --build "${build}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  set(${prefix}_RC "${rc}" PARENT_SCOPE)
  set(${prefix}_OUT "${out}" PARENT_SCOPE)
endfunction()

function(check_standalone)
  build_standalone(good rpc_hello.proto)
  if(NOT good_RC EQUAL 0)
    fail("the standalone build of rpc_hello.proto failed:\n${good_OUT}")
  endif()
  build_standalone(bad bad/client_streaming.proto)
  string(FIND "${bad_OUT}" "streaming methods are not supported" at)
  if(bad_RC EQUAL 0 OR at EQUAL -1)
    fail("a streaming method should fail the build with protoc-gen-mrpc's message:\n${bad_OUT}")
  endif()
  message(STATUS "standalone build: rpc_hello stubs built, streaming refused with the message")
endfunction()

function(check_messages_only)
  set(MRPC_OPT "")
  run_protoc(gen "${WORK_DIR}/out" ${PROTOS} bad/empty_file.proto)
  expect_success(gen)
  string(REGEX REPLACE "\\.proto$" ".mrpc.h" header "${PROTOS}")
  if(NOT EXISTS "${WORK_DIR}/out/${header}" OR EXISTS "${WORK_DIR}/out/bad/empty_file.mrpc.h")
    fail("expected ${header} and no bad/empty_file.mrpc.h without all_files")
  endif()
  file(READ "${WORK_DIR}/out/${header}" text)
  string(FIND "${text}" "${EXPECT}" at)
  if(at EQUAL -1)
    fail("${header} does not declare '${EXPECT}'")
  endif()
  message(STATUS "${header} written and declares ${EXPECT}")
endfunction()

# Compiles a file including rpc_hello.mrpc.h (from OUT_DIR) with the include directories DIRS;
# sets <prefix>_RC, _OUT.
function(compile_stub prefix out_dir dirs)
  file(WRITE "${out_dir}/use.c" "#include \"rpc_hello.mrpc.h\"\nint main(void) { return 0; }\n")
  list(TRANSFORM dirs PREPEND "-I" OUTPUT_VARIABLE inc)
  execute_process(COMMAND "${CC}" -fsyntax-only ${inc} "-I${out_dir}" "${out_dir}/use.c"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  set(${prefix}_RC "${rc}" PARENT_SCOPE)
  set(${prefix}_OUT "${out}" PARENT_SCOPE)
endfunction()

# The stubs compile against this tree's mrpc.h, and stop with their #error against an mrpc.h of
# another API version (a stand-in that defines only the version macros).
function(check_version_guard)
  run_protoc(gen "${WORK_DIR}/out" ${PROTOS})
  if(NOT gen_RC EQUAL 0)
    fail("protoc failed:\n${gen_ERR}")
  endif()
  compile_stub(good "${WORK_DIR}/out" "${INCLUDE_DIRS}")
  if(NOT good_RC EQUAL 0)
    fail("the stubs do not compile against this mrpc.h:\n${good_OUT}")
  endif()
  file(WRITE "${WORK_DIR}/old/mrpc/mrpc.h"
       "#define MRPC_API_VERSION_MAJOR 0\n#define MRPC_API_VERSION_MINOR 9\n")
  compile_stub(old "${WORK_DIR}/out" "${WORK_DIR}/old;${INCLUDE_DIRS}")
  string(FIND "${old_OUT}" "regenerate them" at)
  if(old_RC EQUAL 0 OR at EQUAL -1)
    fail("an mrpc.h of API 0.9 should stop the build with the stubs' #error:\n${old_OUT}")
  endif()
  message(STATUS "version guard: compiles against this mrpc.h, #error against API 0.9")
endfunction()

if(MODE STREQUAL "refuse")
  check_refuse()
elseif(MODE STREQUAL "deterministic")
  check_deterministic()
elseif(MODE STREQUAL "ids_ignore_order")
  check_ids_ignore_order()
elseif(MODE STREQUAL "messages_only")
  check_messages_only()
elseif(MODE STREQUAL "standalone")
  check_standalone()
elseif(MODE STREQUAL "version_guard")
  check_version_guard()
else()
  fail("unknown MODE '${MODE}'")
endif()
