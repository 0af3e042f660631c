# MrpcGenerate.cmake - mrpc_generate(): mRPC stubs and protoc-c message code from .proto files.
#
#   find_package(mrpc CONFIG REQUIRED)     # installed: gives mrpc::mrpc and mrpc_generate()
#   mrpc_generate(TARGET hello_stubs PROTOS proto/rpc_hello.proto [IMPORT_DIRS proto ...])
#   target_link_libraries(hello_client PRIVATE hello_stubs)
#
# For each .proto, protoc runs protoc-gen-mrpc (<name>.mrpc.h/.c: service stubs) and protoc-c
# (<name>.pb-c.h/.c: message types) into ${CMAKE_CURRENT_BINARY_DIR}/<target>.mrpc/, keeping the
# .proto's path relative to its import directory, so `#include "rpc_hello.mrpc.h"` works. The
# generated sources become a static, position-independent library TARGET whose include directory
# is public and which links libprotobuf-c and libmrpc: `mrpc::mrpc` from find_package(mrpc), or
# inside this project the targets `mrpc` and `mrpc_headers` (its own header-only target).
#
# Relative paths are taken from the calling directory. Each .proto must lie under one of the
# IMPORT_DIRS; without IMPORT_DIRS, each .proto's own directory is its import directory. Every file
# of the set is regenerated when any .proto of the set, protoc-gen-mrpc or protoc-c changes.
# protoc's and the plugins' messages reach the build log unchanged; mRPC's refusals (streaming
# methods, proto3 `optional`) come first because protoc-gen-mrpc runs before protoc-c.
#
# Inside the Phoenix-C build the plugin is the protoc-gen-mrpc target; installed, it is found next
# to this file (${prefix}/bin) or on PATH, or wherever MRPC_PROTOC_GEN_MRPC points.
include_guard(GLOBAL)

find_program(MRPC_PROTOC protoc DOC "protobuf compiler (Debian: protobuf-compiler)")
find_program(MRPC_PROTOC_GEN_C protoc-gen-c DOC "protoc-c as a protoc plugin (Debian: protobuf-c-compiler)")
find_package(PkgConfig REQUIRED)
pkg_check_modules(MRPC_PROTOBUF_C REQUIRED IMPORTED_TARGET GLOBAL libprotobuf-c)

# The .proto path rules, also those of Phoenix-C's own phx_protobuf_c_library(), whose
# cmake/PhxProtobuf.cmake includes this file (this one must stand alone where it is installed).
# WHO names the calling function in messages.

# PROTOS and IMPORT_DIRS made absolute (relative ones from the calling directory) into
# OUT_PROTOS and OUT_DIRS; every .proto must exist.
function(_mrpc_absolute_paths out_protos out_dirs who protos import_dirs)
  set(abs_protos "")
  foreach(proto IN LISTS protos)
    cmake_path(ABSOLUTE_PATH proto BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE)
    if(NOT EXISTS "${proto}")
      message(FATAL_ERROR "${who}: ${proto} does not exist")
    endif()
    list(APPEND abs_protos "${proto}")
  endforeach()
  set(abs_dirs "")
  foreach(dir IN LISTS import_dirs)
    cmake_path(ABSOLUTE_PATH dir BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" NORMALIZE)
    list(APPEND abs_dirs "${dir}")
  endforeach()
  set(${out_protos} "${abs_protos}" PARENT_SCOPE)
  set(${out_dirs} "${abs_dirs}" PARENT_SCOPE)
endfunction()

# For the absolute PROTO: its path relative to the first of IMPORT_DIRS that holds it (no
# IMPORT_DIRS: its own directory) in OUT_REL, the same without .proto in OUT_STEM (where its
# outputs go), and the import directories as --proto_path= arguments in OUT_ARGS.
function(_mrpc_proto_paths out_rel out_stem out_args who proto import_dirs)
  if(import_dirs)
    set(dirs ${import_dirs})
  else()
    cmake_path(GET proto PARENT_PATH dirs)
  endif()
  foreach(dir IN LISTS dirs)
    cmake_path(IS_PREFIX dir "${proto}" NORMALIZE inside)
    if(inside)
      cmake_path(RELATIVE_PATH proto BASE_DIRECTORY "${dir}" OUTPUT_VARIABLE rel)
      string(REGEX REPLACE "\\.proto$" "" stem "${rel}")
      list(TRANSFORM dirs PREPEND "--proto_path=" OUTPUT_VARIABLE proto_path_args)
      set(${out_rel} "${rel}" PARENT_SCOPE)
      set(${out_stem} "${stem}" PARENT_SCOPE)
      set(${out_args} "${proto_path_args}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "${who}: ${proto} is not under any IMPORT_DIRS (${dirs})")
endfunction()

# The plugin to run (OUT_PATH) and what the generation step depends on for it (OUT_DEP).
function(_mrpc_plugin out_path out_dep)
  if(TARGET protoc-gen-mrpc)
    set(${out_path} "$<TARGET_FILE:protoc-gen-mrpc>" PARENT_SCOPE)
    set(${out_dep} protoc-gen-mrpc PARENT_SCOPE)
    return()
  endif()
  find_program(MRPC_PROTOC_GEN_MRPC protoc-gen-mrpc
               HINTS "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../../../bin"
               DOC "mRPC's protoc plugin")
  if(NOT MRPC_PROTOC_GEN_MRPC)
    message(FATAL_ERROR "mrpc_generate: protoc-gen-mrpc not found: install Phoenix-C/mRPC or "
                        "set MRPC_PROTOC_GEN_MRPC to the plugin's path")
  endif()
  set(${out_path} "${MRPC_PROTOC_GEN_MRPC}" PARENT_SCOPE)
  set(${out_dep} "${MRPC_PROTOC_GEN_MRPC}" PARENT_SCOPE)
endfunction()

function(mrpc_generate)
  cmake_parse_arguments(GEN "" "TARGET" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(GEN_UNPARSED_ARGUMENTS OR NOT GEN_TARGET OR NOT GEN_PROTOS)
    message(FATAL_ERROR "usage: mrpc_generate(TARGET name PROTOS a.proto ... [IMPORT_DIRS dir ...]) "
                        "(got: ${ARGN})")
  endif()
  foreach(tool MRPC_PROTOC MRPC_PROTOC_GEN_C)
    if(NOT ${tool})
      message(FATAL_ERROR "mrpc_generate(${GEN_TARGET}): ${tool} not found: install protoc and "
                          "protoc-c (Debian: protobuf-compiler protobuf-c-compiler)")
    endif()
  endforeach()
  _mrpc_plugin(plugin plugin_dep)

  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/${GEN_TARGET}.mrpc")
  file(MAKE_DIRECTORY "${out_dir}")

  _mrpc_absolute_paths(protos import_dirs "mrpc_generate(${GEN_TARGET})" "${GEN_PROTOS}"
                       "${GEN_IMPORT_DIRS}")

  set(generated "")
  foreach(proto IN LISTS protos)
    _mrpc_proto_paths(rel stem proto_path_args mrpc_generate "${proto}" "${import_dirs}")
    set(outputs "${out_dir}/${stem}.mrpc.c" "${out_dir}/${stem}.mrpc.h"
                "${out_dir}/${stem}.pb-c.c" "${out_dir}/${stem}.pb-c.h")
    # all_files: a pair for every .proto, services or not, so that OUTPUT is known here.
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND "${MRPC_PROTOC}" ${proto_path_args}
              "--plugin=protoc-gen-mrpc=${plugin}" --mrpc_opt=all_files "--mrpc_out=${out_dir}"
              "--plugin=protoc-gen-c=${MRPC_PROTOC_GEN_C}" "--c_out=${out_dir}"
              "${proto}"
      DEPENDS ${protos} ${plugin_dep} "${MRPC_PROTOC_GEN_C}"
      COMMENT "mrpc_generate ${rel} (${GEN_TARGET})"
      VERBATIM)
    list(APPEND generated ${outputs})
  endforeach()

  add_library(${GEN_TARGET} STATIC ${generated})
  set_target_properties(${GEN_TARGET} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${GEN_TARGET} PUBLIC "${out_dir}")
  target_link_libraries(${GEN_TARGET} PUBLIC PkgConfig::MRPC_PROTOBUF_C
                        "$<TARGET_NAME_IF_EXISTS:mrpc>" "$<TARGET_NAME_IF_EXISTS:mrpc_headers>"
                        "$<TARGET_NAME_IF_EXISTS:mrpc::mrpc>")
endfunction()
