# Warnings and sanitizers for every target of the build.
# Linux service: memfd, MAP_FIXED_NOREPLACE, SCM_RIGHTS, gettid and friends need _GNU_SOURCE.
add_compile_definitions(_GNU_SOURCE)
add_compile_options(-Wall -Wextra -Wshadow -Wno-unused-parameter -fno-strict-aliasing)
if(PHX_WERROR)
  add_compile_options(-Werror)
endif()

if(PHX_FUZZ)
  # Every library the fuzz targets reach reports coverage to libFuzzer (fuzz/, docs/hacking.md).
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang" OR PHX_SANITIZE)
    message(FATAL_ERROR "PHX_FUZZ=ON needs clang (CC=clang) and no PHX_SANITIZE (it implies ASan+UBSan)")
  endif()
  set(_phx_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_compile_options(-fsanitize=fuzzer-no-link)
elseif(PHX_SANITIZE STREQUAL "address")
  set(_phx_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(PHX_SANITIZE STREQUAL "thread")
  set(_phx_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT PHX_SANITIZE STREQUAL "")
  message(FATAL_ERROR "PHX_SANITIZE must be empty, 'address' or 'thread', not '${PHX_SANITIZE}'")
endif()
# The flags, for tests that build code outside this build (tests/install).
string(JOIN " " PHX_SANITIZE_FLAGS ${_phx_san})
if(_phx_san)
  add_compile_options(${_phx_san})
  add_link_options(${_phx_san})
endif()
