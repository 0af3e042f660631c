#!/usr/bin/env bash
# test_exports.sh - what the libraries show the world, checked from the built binaries.
#
#   test_exports.sh SRC_DIR LIBPHOENIX APP PHOENIXD
#
# 1. libphoenix exports exactly the functions and variables its installed headers
#    (core/include/phoenix/*.h, not admin/) declare: nothing more (a helper or the control
#    protocol leaking out), nothing less (a declared call a plugin or app cannot link). The
#    exception is settings.h: its calls need libconfig, so the host (PHOENIXD) exports them to
#    the plugins it loads (core/daemon/plugin_calls.list), and that is checked instead.
# 2. An app (APP: rpc_hello_client, linked with libmrpc) loads neither hwloc, libconfig, json-c
#    nor libudev: its whole DT_NEEDED closure, as the dynamic loader resolves it, is checked.
# Prints "N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
src=$1 lib=$2 app=$3 phoenixd=$4
passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }

# Names declared by the installed headers: calls (a name followed by '(') and extern variables,
# read with comments stripped by the compiler's preprocessor and macro lines dropped; static
# inline calls are the header's own, not the library's.
declared() {   # HEADER ... (default: every installed header but settings.h)
  local text headers=("$@")
  [ ${#headers[@]} -gt 0 ] ||
    mapfile -t headers < <(ls "$src"/core/include/phoenix/*.h | grep -v '/settings\.h$')
  text=$(for h in "${headers[@]}"; do
           cc -fpreprocessed -dD -E -P "$h" 2>/dev/null | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' |
             grep -v '^[[:space:]]*#'
         done)
  comm -23 <(echo "$text" | grep -oE '\bphx_[a-z0-9_]+[[:space:]]*\(|extern[^;()]*\bphx_[a-z0-9_]+[[:space:]]*;' |
               grep -oE 'phx_[a-z0-9_]+' | sort -u) \
           <(echo "$text" | grep -E '^[[:space:]]*static' | grep -oE 'phx_[a-z0-9_]+[[:space:]]*\(' |
               grep -oE 'phx_[a-z0-9_]+' | sort -u)
}
exported() {   # BINARY
  nm -D --defined-only "$1" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sed 's/@.*//' | sort -u
}

decl=$(declared) expo=$(exported "$lib")
[ -n "$decl" ] || fail "no declaration found in $src/core/include/phoenix (is SRC_DIR right?)"
extra=$(comm -13 <(echo "$decl") <(echo "$expo"))
missing=$(comm -23 <(echo "$decl") <(echo "$expo"))
if [ -z "$extra" ]; then ok "libphoenix exports only declared API ($(echo "$expo" | wc -l) symbols)"
else fail "libphoenix exports what no installed header declares:" $extra; fi
if [ -z "$missing" ]; then ok "libphoenix exports every declared call"
else fail "declared in core/include/phoenix but not exported:" $missing; fi

host=$(declared "$src/core/include/phoenix/settings.h")
host_missing=$(comm -23 <(echo "$host") <(exported "$phoenixd"))
if [ -n "$host" ] && [ -z "$host_missing" ]; then
  ok "phoenixd exports the settings calls to its plugins ($(echo "$host" | wc -l) calls)"
else fail "settings.h declares what phoenixd does not export:" $host_missing; fi

closure=$(ldd "$app") || fail "ldd $app failed"
banned=$(echo "$closure" | grep -oE '\blib(hwloc|config|json-c|udev)\.so[^ ]*' | sort -u)
if [ -z "$banned" ]; then ok "$(basename "$app") loads no daemon-side library"
else fail "$(basename "$app") loads daemon-side libraries:" $banned; fi
echo "$closure" | grep -q 'libphoenix\.so' && ok "$(basename "$app") loads libphoenix" ||
  fail "$(basename "$app") does not load libphoenix: the check above proves nothing"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
