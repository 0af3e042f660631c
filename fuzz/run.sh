#!/usr/bin/env bash
# fuzz/run.sh - runs the libFuzzer targets of a -DPHX_FUZZ=ON build, each for a while.
#
#   fuzz/run.sh BUILD_DIR SECONDS|RUNSx [NAME...]     (default: every target of BUILD_DIR)
#
# Each target starts from a scratch copy of its corpus (the tree is never written), with its
# dictionary, and runs SECONDS, or RUNS executions when the limit ends in x (10000000x); a crash,
# a leak, a timeout or an abort in its own checks fails the run, and the reproducer is kept as
# BUILD_DIR/fuzz-out/NAME/crash-* (add it to the corpus as regress-<what> once fixed). One line
# per target: executions, wall time, coverage (cov: edges reached from the seeds and at the end /
# counters instrumented in every module loaded), features (ft:) and corpus size. Targets run
# one at a time. Then the final corpus runs once more with -print_coverage=1 for the edges of
# the code under test (the target's UNDER_TEST sources in fuzz/CMakeLists.txt) reached from the
# seeds and at the end, of those instrumented. A unit running longer than PHX_FUZZ_TIMEOUT seconds (default 10, wall clock)
# is a hang: raise it for runs under `nice -n 19` on a loaded machine, which can stall a unit.
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,10p' "$0" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
limit=$2
shift 2
case $limit in
  *x) limit_arg=(-runs="${limit%x}" -max_total_time=0) ;;
  *)  limit_arg=(-max_total_time="$limit") ;;
esac
manifest="$build/fuzz-targets.txt"
if [ ! -s "$manifest" ]; then
  echo "fuzz/run.sh: $manifest lists no target: configure with CC=clang -DPHX_FUZZ=ON" >&2
  exit 2
fi

# The control target's service loads the build's plugins, which the trust rules refuse when the
# tree lies under a directory anyone can write (/tmp): vouch for the build, as ctest does.
export PHOENIX_PLUGIN_TRUSTED_DIRS="$build"
# The third-party leaks tests/lsan.supp explains (libconfig's dropped strings).
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")/.." && pwd)/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# Edges covered and instrumented in the functions of the files in UNDER (space-separated paths)
# that CORPUS reaches: "covered/instrumented", or "-" when the target names no file.
under_test_edges() {
  local bin=$1 corpus=$2 under=$3 re
  shift 3
  [ -z "$under" ] && { echo -; return; }
  re="/($(echo "$under" | sed 's/\./\\./g; s/ /|/g')):[0-9]+\$"
  "$bin" -runs=0 -print_coverage=1 "$@" "$corpus" 2>&1 |
    grep -E '^(UN)?COVERED_FUNC' | grep -E "$re" |
    awk '{ split($5, e, "/"); c += e[1]; n += e[2] } END { printf "%d/%d", c, n }'
}

status=0
while IFS='|' read -r name bin corpus dict flags under; do
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then
    continue
  fi
  out="$build/fuzz-out/$name"
  rm -rf "$out"
  mkdir -p "$out/corpus"
  cp "$corpus"/* "$out/corpus/"
  extra=()
  # shellcheck disable=SC2206  # FLAGS are words: -opt=value, no spaces inside
  [ -n "$flags" ] && extra=($flags)
  args=("${limit_arg[@]}" -timeout="${PHX_FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$out/" -close_fd_mask=3 "${extra[@]}")
  [ -n "$dict" ] && args+=(-dict="$dict")
  seeds_under=$(under_test_edges "$bin" "$corpus" "$under" "${extra[@]}")
  start=$SECONDS
  if ! "$bin" "${args[@]}" "$out/corpus" >"$out/log" 2>&1; then
    echo "fuzz/run.sh: $name FAILED; the end of $out/log:" >&2
    tail -40 "$out/log" >&2
    status=1
    continue
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
  total=$(sed -n 's/.*Loaded [0-9]* modules *(\([0-9]*\) inline 8-bit counters).*/\1/p' "$out/log" |
          awk '{ n += $1 } END { print n + 0 }')
  seeds=$(grep -m1 'INITED' "$out/log" | grep -o 'cov: [0-9]* ft: [0-9]*')
  end=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$out/log" | tail -1)
  seconds=$((SECONDS - start))
  files=$(find "$out/corpus" -type f | wc -l)
  end_under=$(under_test_edges "$bin" "$out/corpus" "$under" "${extra[@]}")
  printf '%-9s %6ss %11s execs  cov %5s -> %5s of %6s  ft %5s -> %5s  under test %s -> %s' \
         "$name" "$seconds" "$execs" "$(echo "$seeds" | cut -d' ' -f2)" \
         "$(echo "$end" | cut -d' ' -f2)" "$total" "$(echo "$seeds" | cut -d' ' -f4)" \
         "$(echo "$end" | cut -d' ' -f4)" "$seeds_under" "$end_under"
  printf '  corpus %4s files\n' "$files"
done <"$manifest"
exit $status
