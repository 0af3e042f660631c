#!/usr/bin/env bash
# test_version.sh - every installed program answers --version with its name and the version.
#
#   test_version.sh VERSION PROGRAM...
#
# Each PROGRAM (a path to the built binary) must print exactly "<basename> VERSION" on stdout,
# nothing on stderr, and exit 0. VERSION is the project's (PROJECT_VERSION). Prints one line per
# program and "N passed, N failed"; exits 1 on any failure.
set -uo pipefail
version=$1; shift
passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }

err=$(mktemp)
trap 'rm -f "$err"' EXIT
for prog in "$@"; do
  name=$(basename "$prog")
  out=$(timeout 10 "$prog" --version 2>"$err"); rc=$?
  if [ "$rc" -eq 0 ] && [ "$out" = "$name $version" ] && [ ! -s "$err" ]; then
    ok "$name --version: $out"
  else
    fail "$name --version: exit $rc, stdout '$out', stderr '$(head -c 300 "$err")'" \
         "(wanted exit 0 and '$name $version')"
  fi
done
[ $# -gt 0 ] || fail "no program given"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
