#!/usr/bin/env bash
# test_man.sh - the manual pages render cleanly and say what the programs do.
#
#   test_man.sh MAN_DIR PHOENIX_CONF PHOENIXD PHOENIXCTL PROTOC_GEN_MRPC POLICYCTL MRPC_RUN
#
# MAN_DIR holds the configured pages (build/docs/man). Checks:
# 1. every page renders with `groff -man -ww` without a single warning, and its NAME section
#    names the page ("phoenixd \- ...");
# 2. phoenixd(8), phoenixctl(8), protoc-gen-mrpc(1) and mrpc-run(1) mention every long option their --help
#    prints (phoenixctl: every command of `phoenixctl --help` and every option of each
#    `phoenixctl COMMAND --help`; policyctl(8) likewise for policyctl);
# 3. phoenix.conf(5) describes every key of PHOENIX_CONF (deploy/phoenix.conf), as section.key.
# Prints one line per check and "N passed, N failed"; exits 1 on any failure. Needs groff
# (groff-base, which deploy/install-deps.sh installs); without it, prints SKIPPED and exits 77.
set -uo pipefail
mandir=$1 conf=$2 phoenixd=$3 phoenixctl=$4 protoc_gen=$5 policyctl=$6 mrpc_run=$7
passed=0 failed=0
ok()   { passed=$((passed + 1)); echo "ok: $*"; }
fail() { failed=$((failed + 1)); echo "FAILED: $*"; }

if ! command -v groff >/dev/null; then
  echo "SKIPPED: groff is not installed (deploy/install-deps.sh installs groff-base)"; exit 77
fi

# Plain text of a page: no hyphenation, one long line per paragraph, no bold or underline.
plain() { groff -man -Tascii -P-cbou -rHY=0 -rLL=250n "$1" 2>/dev/null; }

check_renders() {
  local page=$1 name section warnings text
  name=$(basename "$page"); section=${name##*.}; name=${name%.*}
  warnings=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
  if [ -z "$warnings" ]; then ok "$name($section) renders without warnings"
  else fail "$name($section): groff says: $warnings"; fi
  text=$(plain "$page")
  if printf '%s\n' "$text" | grep -A1 -x 'NAME' | grep -qE "^ +$name - [a-z]"; then
    ok "$name($section) has its NAME line"
  else fail "$name($section) has no 'NAME' section with '$name - ...'"; fi
}

# Every token of WORDS must appear in the page's text.
check_mentions() {
  local page=$1 what=$2 words=$3 text missing=()
  text=$(plain "$page")
  for w in $words; do
    grep -qF -- "$w" <<<"$text" || missing+=("$w")
  done
  if [ -z "$words" ]; then fail "$(basename "$page"): found no $what to look for"
  elif [ ${#missing[@]} -eq 0 ]; then ok "$(basename "$page") mentions every $what ($(wc -w <<<"$words"))"
  else fail "$(basename "$page") lacks $what: ${missing[*]}"; fi
}

long_options() { "$@" --help 2>&1 | grep -oE -- '--[a-z][a-z-]*' | sort -u; }

# section.key for every setting of a libconfig file written like deploy/phoenix.conf.
conf_keys() {
  sed 's/#.*//' "$1" | awk '
    /^[[:space:]]*[a-z_]+[[:space:]]*=[[:space:]]*\{/ { match($0, /[a-z_]+/); group = substr($0, RSTART, RLENGTH); next }
    /^[[:space:]]*\};/ { group = ""; next }
    /^[[:space:]]*[a-z_]+[[:space:]]*=/ { match($0, /[a-z_]+/); k = substr($0, RSTART, RLENGTH);
                                          print (group == "" ? k : group "." k) }'
}

for page in "$mandir"/*.[1-8]; do check_renders "$page"; done
[ -e "$mandir/phoenixd.8" ] || fail "no phoenixd.8 in $mandir"

check_mentions "$mandir/phoenixd.8" "option of phoenixd --help" "$(long_options "$phoenixd")"
check_mentions "$mandir/protoc-gen-mrpc.1" "option of protoc-gen-mrpc --help" \
               "$(long_options "$protoc_gen")"
check_mentions "$mandir/mrpc-run.1" "option of mrpc-run --help" "$(long_options "$mrpc_run")"
# A tool with commands: its page names each command of TOOL --help and each command's options.
check_tool() {
  local tool=$1 name commands c
  name=$(basename "$tool")
  commands=$("$tool" --help | awk '/^Commands:/ {on = 1; next} on && NF == 0 {on = 0} on {print $1}')
  check_mentions "$mandir/$name.8" "command of $name --help" "$commands"
  for c in $commands; do
    check_mentions "$mandir/$name.8" "option of $name $c --help" "$(long_options "$tool" "$c")"
  done
}
check_tool "$phoenixctl"
check_tool "$policyctl"
check_mentions "$mandir/phoenix.conf.5" "key of $(basename "$conf")" "$(conf_keys "$conf")"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
