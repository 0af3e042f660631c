#!/usr/bin/env bash
# test_install.sh - the installed product, used as a newcomer would use it.
#
#   test_install.sh BUILD_DIR SOURCE_DIR
#
# Installs BUILD_DIR into a fresh temporary prefix, then, from a directory outside the source
# tree and with no LD_LIBRARY_PATH:
#   a. starts the installed phoenixd with no -c (it finds its installed phoenix.conf and its
#      plugins from where it lies) and lists its plugins with the installed phoenixctl;
#   b. builds the tutorial app with find_package(mrpc) + mrpc_generate() and runs it;
#   c. builds the same app with pkg-config (protoc + protoc-gen-mrpc by hand) and runs it;
#   d. builds an out-of-tree plugin with find_package(phoenix), has the installed phoenixd load
#      it, attaches its engine to the running server and sees calls go through it;
#   e. runs the installed rpc_hello_ranks with the installed mrpc-run -n 2, whose per-job service
#      is the installed phoenixd, found beside mrpc-run (not at the configured prefix);
#   f. builds an MPI program with pkg-config's mrpc-mpi module alone (no -rpath of its own) and
#      runs it; installs no mpi.pc, the name of Open MPI's module.
# UCX is pinned to loopback; the services authenticate each other through a private munged
# (tests/lib/munged.sh). Everything it starts it stops, by pid. Prints "N passed, N failed".
# PHX_TEST_CFLAGS (the sanitizer flags of a sanitizer build) go to everything it compiles.
set -uo pipefail
build=$(realpath "$1") src=$(realpath "$2")
# The prefix lies in the build tree, not in /tmp: phoenixd loads plugins only from directories
# that no one but root can write, all the way up (plugin trust, docs/admin.md), and the installed
# phoenix.conf vouches for none, as a newcomer's would.
tmp=$(mktemp -d "$build/phx-install.XXXXXX")
P=$tmp/prefix run=$tmp/run work=$tmp/work
pids=() passed=0 failed=0
unset LD_LIBRARY_PATH
export UCX_NET_DEVICES=lo UCX_TLS=tcp,self
. "$src/tests/lib/ports.sh"

stop_all() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  pids=()
}
# munged wants every directory above its socket searchable, which the build tree's parents need
# not be (a checkout in a 0700 directory): its realm gets a directory of its own in /tmp.
realm=$(mktemp -d /tmp/phx-install-munge.XXXXXX)
chmod 755 "$realm"
trap 'stop_all; "$src/tests/lib/munged.sh" stop "$realm" >/dev/null 2>&1; rm -rf "$tmp" "$realm"' EXIT
ok()   { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }
finish() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit; }
show() { for f in "$@"; do [ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; }; done; }

# Starts the installed phoenixd with ARGS; waits (5 s at most) until its socket exists.
start_phoenixd() {
  rm -rf "$run"; mkdir -p "$run"
  "$P/sbin/phoenixd" --foreground --prefix "$run" "$@" >"$tmp/phoenixd.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do [ -S "$run/control.sock" ] && return 0; sleep 0.05; done
  show "$tmp/phoenixd.log"; return 1
}

# Runs the tutorial's server SERVER and client CLIENT; true when the client gets the greeting.
hello() {
  local server=$1 client=$2 reply="" port
  port=$(free_tcp_port) || return 1
  PHOENIX_PREFIX=$run "$server" "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 20); do
    reply=$(PHOENIX_PREFIX=$run timeout 10 "$client" "127.0.0.1:$port" 2>&1) && break
    sleep 0.25
  done
  grep -qx "reply: Hello mRPC!" <<<"$reply" || { echo "$reply"; show "$tmp/server.log"; return 1; }
}

mkdir -p "$work" && cd "$work" || exit 1
cmake --install "$build" --prefix "$P" >"$tmp/install.log" 2>&1 ||
  { show "$tmp/install.log"; fail "cmake --install"; finish; }
# The installed phoenix.conf authenticates peers with MUNGE (settings.ucx.auth = "munge"): as an
# administrator would, point it at the realm's munged, here a private one of this test.
sock=$("$src/tests/lib/munged.sh" start "$realm") || { fail "munged does not start"; finish; }
sed -i "s|^\( *munge_socket = \)\"\";|\1\"$sock\";|" "$P/etc/phoenix/phoenix.conf"
grep -q "munge_socket = \"$sock\";" "$P/etc/phoenix/phoenix.conf" ||
  { fail "the installed phoenix.conf has no settings.ucx.munge_socket"; finish; }

# a. the installed service, no configuration given
if start_phoenixd && plugins=$("$P/bin/phoenixctl" plugins --prefix "$run" 2>&1) &&
   grep -q mrpc <<<"$plugins" && grep -q ucx <<<"$plugins" &&
   grep -q "configuration $P/etc/phoenix/phoenix.conf" "$tmp/phoenixd.log"; then
  ok "installed phoenixd starts without -c, reads its installed phoenix.conf, loads its plugins"
else
  echo "${plugins:-}"; fail "installed phoenixd without -c"; finish
fi

# e. a job of the installed mrpc-run; its per-job service must be the phoenixd installed beside it
# (no MRPC_RUN_PHOENIXD, no --phoenixd), which reads the installed phoenix.conf and its munged.
# The run directory is the realm's, in /tmp: a socket path under the build tree can be too long.
if (unset MRPC_RUN_PHOENIXD MRPC_RUN_SERVICE_CONF PHOENIX_PREFIX
    timeout 60 "$P/bin/mrpc-run" -n 2 --service job --run-dir "$realm" --tag-output \
      "$P/bin/rpc_hello_ranks" 2) >"$tmp/ranks.out" 2>"$tmp/ranks.err" &&
   grep -qx "\[1\] rank 1: reply from .*: Hello rank 1!" "$tmp/ranks.out"; then
  ok "installed mrpc-run -n 2 rpc_hello_ranks runs on the installed phoenixd"
else
  show "$tmp/ranks.out" "$tmp/ranks.err"; fail "installed mrpc-run -n 2 rpc_hello_ranks"
fi

# b. an app built with find_package(mrpc) + mrpc_generate()
if cmake -S "$src/tests/install/app" -B app -DRPC_HELLO_DIR="$src/examples/rpc_hello" \
         -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_FLAGS="${PHX_TEST_CFLAGS:-}" >"$tmp/app.log" 2>&1 &&
   cmake --build app >>"$tmp/app.log" 2>&1; then
  hello app/hello_server app/hello_client && ok "find_package(mrpc) app runs" ||
    fail "find_package(mrpc) app did not get its reply"
else
  show "$tmp/app.log"; fail "find_package(mrpc) app does not build"
fi
stop_all

# c. the same app built with pkg-config
start_phoenixd || { fail "phoenixd restart"; finish; }
mkdir -p gen
export PKG_CONFIG_PATH=$P/lib/pkgconfig
if protoc --plugin=protoc-gen-mrpc="$P/bin/protoc-gen-mrpc" --mrpc_out=gen --c_out=gen \
          -I "$src/examples/rpc_hello/proto" rpc_hello.proto >"$tmp/pc.log" 2>&1 &&
   for prog in server client; do
     cc ${PHX_TEST_CFLAGS:-} -o "pc_$prog" "$src/examples/rpc_hello/$prog.c" gen/*.c -Igen \
        $(pkg-config --cflags --libs mrpc) -Wl,-rpath,"$(pkg-config --variable=libdir mrpc)" \
        >>"$tmp/pc.log" 2>&1 || exit 1
   done; then
  hello ./pc_server ./pc_client && ok "pkg-config app runs" ||
    fail "pkg-config app did not get its reply"
else
  show "$tmp/pc.log"; fail "pkg-config app does not build"
fi
stop_all

# f. an MPI program built with pkg-config's flags only: they must carry the rpath (as
# mrpc-mpicc -link-info does); run as a singleton, which needs no service.
cat >"$work/mpi_hello.c" <<'C'
#include <mpi.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    int rank = -1, size = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    printf("mpi rank %d of %d\n", rank, size);
    return MPI_Finalize();
}
C
if cc ${PHX_TEST_CFLAGS:-} -o mpi_hello "$work/mpi_hello.c" $(pkg-config --cflags --libs mrpc-mpi) \
      >"$tmp/mpi.log" 2>&1 && out=$(timeout 20 ./mpi_hello 2>&1) && [ "$out" = "mpi rank 0 of 1" ]; then
  ok "pkg-config mrpc-mpi program runs without LD_LIBRARY_PATH"
else
  show "$tmp/mpi.log"; echo "${out:-}"; fail "pkg-config mrpc-mpi program"
fi
[ ! -e "$P/lib/pkgconfig/mpi.pc" ] && ok "no mpi.pc installed (Open MPI's name)" ||
  fail "the install has an mpi.pc, which shadows Open MPI's"

# d. an out-of-tree plugin built with find_package(phoenix), loaded and attached
if cmake -S "$src/tests/install/plugin" -B plugin -DCMAKE_PREFIX_PATH="$P" \
         -DCMAKE_C_FLAGS="${PHX_TEST_CFLAGS:-}" >"$tmp/plugin.log" 2>&1 &&
   cmake --build plugin >>"$tmp/plugin.log" 2>&1; then
  ok "find_package(phoenix) plugin builds"
  # (an ASan build adds the descriptor's ODR indicator, __odr_asan.phx_plugin_descriptor)
  exports=$(nm -D --defined-only plugin/libcount_plugin.so | awk '$2 ~ /^[TDBR]$/ {print $3}' |
            grep -vx '__odr_asan\.phx_plugin_descriptor')
  [ "$exports" = phx_plugin_descriptor ] && ok "phoenix_add_plugin() exports the descriptor alone" ||
    fail "phoenix_add_plugin() plugin exports: $exports"
else
  show "$tmp/plugin.log"; fail "find_package(phoenix) plugin does not build"; finish
fi
cat >"$tmp/phoenix.conf" <<CONF
plugins = ( { name = "mrpc"; path = "libphoenix_mrpc.so"; },
            { name = "ucx"; path = "libphoenix_ucx.so"; },
            { name = "count"; path = "$work/plugin/libcount_plugin.so"; } );
settings = { ucx = { munge_socket = "$sock"; }; };   # auth = "munge", the test's munged
CONF
cat >"$tmp/attach.conf" <<CONF
addon_engine = "CountEngine";
op = "attach";
tx_channels_replacements = ( ("MrpcEngine", "CountEngine", 0, 0),
                             ("CountEngine", "UcxRpcAdapterEngine", 0, 0) );
rx_channels_replacements = ( ("UcxRpcAdapterEngine", "CountEngine", 0, 0),
                             ("CountEngine", "MrpcEngine", 0, 0) );
group = [ "MrpcEngine", "UcxRpcAdapterEngine" ];
CONF
ctl() { "$P/bin/phoenixctl" "$@" --prefix "$run"; }
start_phoenixd -c "$tmp/phoenix.conf" || { fail "phoenixd with the plugin"; finish; }
port=$(free_tcp_port) || { fail "no free port"; finish; }
PHOENIX_PREFIX=$run app/hello_server "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
server=$!; pids+=($server)
for _ in $(seq 100); do ctl list --json 2>/dev/null | grep -q "\"pid\":$server" && break; sleep 0.05; done
if ctl attach --pid "$server" --sid 0 --descriptor "$tmp/attach.conf" >"$tmp/attach.log" 2>&1; then
  ok "installed phoenixd attaches CountEngine to the server"
else
  show "$tmp/attach.log" "$tmp/phoenixd.log"; fail "attach CountEngine"; finish
fi
reply=""
for _ in $(seq 20); do
  reply=$(PHOENIX_PREFIX=$run timeout 10 app/hello_client "127.0.0.1:$port" 2>&1) && break
  sleep 0.25
done
id=$(ctl list --json | grep -oE '"id":[0-9]+,"type":"CountEngine"' | grep -oE '[0-9]+' | head -1)
stats=$(ctl engine "${id:-0}" stats --json 2>&1)
if grep -qx "reply: Hello mRPC!" <<<"$reply" && grep -qE '"rx":[1-9]' <<<"$stats" &&
   grep -qE '"tx":[1-9]' <<<"$stats"; then
  ok "calls go through the out-of-tree engine ($stats)"
else
  echo "reply: $reply; stats: $stats"; fail "calls through CountEngine"
fi
finish
