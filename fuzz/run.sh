#!/usr/bin/env bash
# fuzz/run.sh - runs the libFuzzer targets of a -DPHX_FUZZ=ON build, each for a while.
#
#   fuzz/run.sh BUILD_DIR SECONDS [NAME...]     (default: every target of BUILD_DIR)
#
# Each target starts from a scratch copy of its corpus (the tree is never written), with its
# dictionary, and runs SECONDS; a crash, a leak, a timeout or an abort in its own checks fails
# the run, and the reproducer is kept as BUILD_DIR/fuzz-out/NAME/crash-* (add it to the corpus
# as regress-<what> once fixed). One line per target: executions, coverage (cov: edges reached
# / counters instrumented in every module loaded) and corpus size. Targets run one at a time.
set -euo pipefail

if [ $# -lt 2 ]; then
  sed -n '2,10p' "$0" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
seconds=$2
shift 2
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

status=0
while IFS=$'\t' read -r name bin corpus dict flags; do
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then
    continue
  fi
  out="$build/fuzz-out/$name"
  rm -rf "$out"
  mkdir -p "$out/corpus"
  cp "$corpus"/* "$out/corpus/"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="$out/" -close_fd_mask=3)
  [ -n "$dict" ] && args+=(-dict="$dict")
  # shellcheck disable=SC2206  # FLAGS are words: -opt=value, no spaces inside
  [ -n "$flags" ] && args+=($flags)
  if ! "$bin" "${args[@]}" "$out/corpus" >"$out/log" 2>&1; then
    echo "fuzz/run.sh: $name FAILED; the end of $out/log:" >&2
    tail -40 "$out/log" >&2
    status=1
    continue
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
  total=$(sed -n 's/.*Loaded [0-9]* modules *(\([0-9]*\) inline 8-bit counters).*/\1/p' "$out/log" |
          awk '{ n += $1 } END { print n + 0 }')
  cov=$(grep -o 'cov: [0-9]*' "$out/log" | tail -1 | cut -d' ' -f2)
  files=$(find "$out/corpus" -type f | wc -l)
  printf '%-8s %6ss %12s execs  cov %6s of %6s edges  corpus %5s files\n' \
         "$name" "$seconds" "$execs" "$cov" "$total" "$files"
done <"$manifest"
exit $status
