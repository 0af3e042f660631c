#!/usr/bin/env bash
# munged.sh - a private MUNGE daemon for tests: its own key, socket, log and pid file in DIR,
# nothing under /etc or /run touched. Tests that need a realm (the transport's authenticated
# wire-up, the Slurm test cluster) start one, point libmunge at DIR/munge.socket.2
# (MUNGE_OPT_SOCKET, or `munge --socket`), and stop it by its pid.
#
#   munged.sh start DIR [KEYFILE]   start munged in DIR (a new key, or a copy of KEYFILE: two
#                                   daemons with one key are one realm); prints the socket path
#   munged.sh stop DIR              stop it by DIR/munged.pid and wait (bounded) until it is gone
#
# munged insists that every directory above its socket is searchable by all, and that its key is
# readable by its user only; DIR is made 0755 and the key 0600 for that. Exit 0 on success, 1 with
# a sentence on stderr otherwise, 2 on bad usage.
set -euo pipefail

die() { echo "munged.sh: $*" >&2; exit 1; }

start() {
  local dir="$1" key="${2:-}"
  command -v munged >/dev/null || die "munged is not installed (Debian package 'munge')"
  mkdir -p "$dir"
  chmod 0755 "$dir"
  if [ -n "$key" ]; then
    install -m 0600 "$key" "$dir/munge.key"
  else
    mungekey --create --keyfile="$dir/munge.key" >/dev/null 2>&1 ||
      dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
    chmod 0600 "$dir/munge.key"
  fi
  munged --socket="$dir/munge.socket.2" --key-file="$dir/munge.key" \
         --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" \
         --seed-file="$dir/munged.seed" ||
    die "munged did not start in $dir (see $dir/munged.log)"
  local i
  for i in $(seq 1 50); do             # bounded: 5 s
    [ -S "$dir/munge.socket.2" ] && [ -s "$dir/munged.pid" ] && break
    sleep 0.1
  done
  [ -S "$dir/munge.socket.2" ] || die "munged in $dir made no socket within 5 s"
  echo "$dir/munge.socket.2"
}

stop() {
  local dir="$1" pid i
  [ -s "$dir/munged.pid" ] || return 0
  pid=$(cat "$dir/munged.pid")
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 50); do             # bounded: 5 s, then SIGKILL
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
  start) [ $# -ge 2 ] || { echo "usage: munged.sh start DIR [KEYFILE]" >&2; exit 2; }
         start "$2" "${3:-}" ;;
  stop)  [ $# -eq 2 ] || { echo "usage: munged.sh stop DIR" >&2; exit 2; }
         stop "$2" ;;
  *)     sed -n '2,13p' "$0" >&2; exit 2 ;;
esac
