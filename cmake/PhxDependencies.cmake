# Every external dependency, found through pkg-config; deploy/install-deps.sh installs them.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

function(phx_require_pkg var module)
  pkg_check_modules(${var} IMPORTED_TARGET ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "${module} not found: run deploy/install-deps.sh as root")
  endif()
endfunction()

phx_require_pkg(UCX        ucx)
phx_require_pkg(HWLOC      hwloc)
phx_require_pkg(PROTOBUF_C libprotobuf-c)
phx_require_pkg(LIBCONFIG  libconfig)
phx_require_pkg(JSONC      json-c)
phx_require_pkg(MUNGE      munge)       # the transport's peer authentication
# phoenixd's Prometheus endpoint (core/daemon/metrics_http.c): an HTTP server from Debian that
# runs inside the control thread's own epoll loop, rather than a parser of our own.
phx_require_pkg(MICROHTTPD libmicrohttpd)
if(BUILD_TESTING)
  phx_require_pkg(CUNIT      cunit)     # the tests only
endif()
