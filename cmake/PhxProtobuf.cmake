# phx_protobuf_c_library(TARGET name PROTOS a.proto [b.proto ...] [IMPORT_DIRS dir ...])
#
# Compiles .proto files with protoc-c into ${CMAKE_CURRENT_BINARY_DIR}/<name>.pb/ and builds them
# into a static, position-independent library <name> that carries the generated directory as its
# include directory and links libprotobuf-c, so `#include "a.pb-c.h"` works for its users.
#
# Each .proto (relative paths are taken from the calling directory) must lie under one of the
# IMPORT_DIRS; without IMPORT_DIRS, the directory of each .proto is its import directory. The
# generated files keep the .proto's path relative to its import directory, which is also how
# protoc-c's generated code includes the headers of imported .protos. Every file of the set is
# regenerated when any .proto of the set, or protoc-c, changes.
#
# These path rules are mrpc_generate()'s (_mrpc_absolute_paths, _mrpc_proto_paths): they live in
# MrpcGenerate.cmake, which is installed for apps and must work alone, and are used from here.
find_program(PHX_PROTOC_C protoc-c DOC "protobuf-c compiler")
include("${CMAKE_CURRENT_LIST_DIR}/../mrpc/cmake/MrpcGenerate.cmake")

function(phx_protobuf_c_library)
  cmake_parse_arguments(PB "" "TARGET" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(PB_UNPARSED_ARGUMENTS OR NOT PB_TARGET OR NOT PB_PROTOS)
    message(FATAL_ERROR
      "usage: phx_protobuf_c_library(TARGET name PROTOS a.proto ... [IMPORT_DIRS dir ...]) "
      "(got: ${ARGN})")
  endif()
  if(NOT PHX_PROTOC_C)
    message(FATAL_ERROR "protoc-c not found (needed for ${PB_TARGET}): install the protobuf-c "
                        "compiler (Debian: protobuf-c-compiler) with deploy/install-deps.sh")
  endif()

  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}/${PB_TARGET}.pb")
  file(MAKE_DIRECTORY "${out_dir}")

  _mrpc_absolute_paths(protos import_dirs "phx_protobuf_c_library(${PB_TARGET})" "${PB_PROTOS}"
                       "${PB_IMPORT_DIRS}")

  set(sources "")
  set(headers "")
  foreach(proto IN LISTS protos)
    _mrpc_proto_paths(rel stem proto_path_args phx_protobuf_c_library "${proto}" "${import_dirs}")
    set(src "${out_dir}/${stem}.pb-c.c")
    set(hdr "${out_dir}/${stem}.pb-c.h")
    add_custom_command(
      OUTPUT "${src}" "${hdr}"
      COMMAND "${PHX_PROTOC_C}" "--c_out=${out_dir}" ${proto_path_args} "${proto}"
      DEPENDS ${protos} "${PHX_PROTOC_C}"
      COMMENT "protoc-c ${rel} (${PB_TARGET})"
      VERBATIM)
    list(APPEND sources "${src}")
    list(APPEND headers "${hdr}")
  endforeach()

  add_library(${PB_TARGET} STATIC ${sources} ${headers})
  set_target_properties(${PB_TARGET} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(${PB_TARGET} PUBLIC "${out_dir}")
  target_link_libraries(${PB_TARGET} PUBLIC PkgConfig::PROTOBUF_C)
endfunction()
