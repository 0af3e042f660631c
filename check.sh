#!/usr/bin/env bash
# check.sh - install what is missing, build, and run every test.
#
#   ./check.sh                      build in build/ and run all tests
#   ./check.sh --sanitize address   ASan+UBSan build in build-address/
#   ./check.sh --sanitize thread    TSan build in build-thread/ (tests labelled 'tsan')
#   ./check.sh -- -R ring           extra arguments after -- go to ctest
#   ./check.sh --fuzz SECONDS       clang -DPHX_FUZZ=ON build in build-fuzz/, then every fuzz
#                                   target runs SECONDS (fuzz/run.sh); fails on any crash
#
# With CI=true (.ci/run) a skipped test fails the run: a test skips (exit 77, "SKIPPED: why")
# when this machine lacks what it needs, and CI's machine must have it all.
set -euo pipefail
cd "$(dirname "$0")"

sanitize=""
fuzz_seconds=""
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize="$2"; shift 2 ;;
    --fuzz) fuzz_seconds="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "check.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if ! ./deploy/install-deps.sh --check >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then ./deploy/install-deps.sh; else sudo ./deploy/install-deps.sh; fi
fi

werror=OFF; [ "${CI:-}" = "true" ] && werror=ON
if [ -n "$fuzz_seconds" ]; then
  CC=clang cmake -S . -B build-fuzz -DPHX_FUZZ=ON -DPHX_WERROR="$werror" >/dev/null
  cmake --build build-fuzz -j "$(nproc)" --target fuzz_all
  exec fuzz/run.sh build-fuzz "$fuzz_seconds"
fi

build="build${sanitize:+-$sanitize}"
cmake -S . -B "$build" -DPHX_SANITIZE="$sanitize" -DPHX_WERROR="$werror" >/dev/null
cmake --build "$build" -j "$(nproc)"

ctest_args=(--output-on-failure -j "$(nproc)")
[ "$sanitize" = "thread" ] && ctest_args+=(-L tsan)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
log="$build/ctest.log"
(cd "$build" && ctest "${ctest_args[@]}" "$@") 2>&1 | tee "$log"
if [ "${CI:-}" = "true" ] && grep -q "The following tests did not run:" "$log"; then
  echo "check.sh: tests were skipped (listed above with their SKIPPED reasons); CI runs them all" >&2
  exit 1
fi
