#!/usr/bin/env bash
# test_mpi_qos.sh - a smoke test of benchmarks/mpi_qos/run.sh (QoS between jobs on the Slurm test
# cluster) with tiny counts: 2-second scenarios, 1 MiB messages for job B. Checks that
#   1. run.sh exits 0 and its results.json has every figure of the five scenarios (A's p50 and
#      p99 where A ran, B's goodput where B ran) and the ratios against the goal;
#   2. the standing rule `policyctl attach qos --job A --set class=latency` really reached job A's
#      MPI ranks on both nodes: the `policyctl list --json` that run.sh took while A ran shows a
#      QosEngine of class latency on an app of A's job id (from jobs.txt) on n1 and on n2, which
#      had started calls; and B's ranks a bulk-class one;
#   3. the plot is a PNG, the CDF data has a block per scenario with A;
#   4. nothing of the run is left: no process naming its work directory, the directory gone.
# The figures themselves are not checked (a 2-second run on a loaded machine says nothing).
#   test_mpi_qos.sh SRC_DIR BUILD_DIR
set -euo pipefail
src=$1 build=$2
out=$(mktemp -d /tmp/phx-mpiqos-test.XXXXXX)
fail() { echo "FAILED: $*"; tail -5 "$out"/*.err 2>/dev/null || true; exit 1; }
trap 'rm -rf "$out"' EXIT

rc=0
timeout 600 "$src/benchmarks/mpi_qos/run.sh" --build "$build" --out "$out" --seconds 2 \
  --size-b 1M --window-b 2 >"$out/run.log" 2>&1 || rc=$?
cat "$out/run.log"
[ $rc -eq 77 ] && exit 77
[ $rc -eq 0 ] || fail "run.sh exited $rc"
echo "ok 1a: run.sh completed"

python3 - "$out" <<'PY' || fail "the results are incomplete (above)"
import json, os, sys
out = sys.argv[1]
res = json.load(open(os.path.join(out, "results.json")))
jobs = dict(l.split(None, 1) for l in open(os.path.join(out, "jobs.txt")))
bad = []
want = {"a_alone": ("rtt_p50_us", "rtt_p99_us"), "b_alone": ("b_goodput_mbps",),
        "a_with_b": ("rtt_p50_us", "rtt_p99_us", "b_goodput_mbps"),
        "a_with_b_qos": ("rtt_p50_us", "rtt_p99_us", "b_goodput_mbps"),
        "a_with_b_ratelimit": ("rtt_p50_us", "rtt_p99_us", "b_goodput_mbps")}
for s, keys in want.items():
    for k in keys:
        v = res["scenarios"].get(s, {}).get(k)
        if not isinstance(v, (int, float)) or v < 0 or (k != "b_goodput_mbps" and v <= 0):
            bad.append("%s: %s is %r" % (s, k, v))
for k in ("p99_qos_over_alone", "b_share_qos", "p99_ratelimit_over_alone", "b_share_ratelimit"):
    if not isinstance(res["ratios"].get(k), float):
        bad.append("ratio %s is %r" % (k, res["ratios"].get(k)))
if res["missing"]:
    bad.append("results.py says missing: %s" % res["missing"])
print("ok 1b: every figure of the 5 scenarios is there" if not bad else "\n".join(bad))
ids = dict(x.split("=") for x in jobs["a_with_b_qos-r1"].split())
for n in ("n1", "n2"):
    listed = json.load(open(os.path.join(out, "policy-list-%s-a_with_b_qos-r1.json" % n)))["attached"]
    for role, cls in (("a", "latency"), ("b", "bulk")):
        mine = [e for e in listed if e["engine"] == "QosEngine" and e["job"] == ids[role]]
        if not mine or mine[0]["stats"]["settings"]["class"] != cls:
            bad.append("%s: no %s-class QosEngine on job %s's apps: %s" % (n, cls, ids[role], listed))
        elif role == "a" and not mine[0]["stats"]["started"] > 0:
            bad.append("%s: job %s's QosEngine saw no call" % (n, ids[role]))
        else:
            print("ok 2: %s: policyctl list shows a %s QosEngine (engine %d) on pid %d of job %s, %d calls started"
                  % (n, cls, mine[0]["engine_id"], mine[0]["pid"], ids[role], mine[0]["stats"]["started"]))
blocks = [b for b in open(os.path.join(out, "latency_cdf.dat")).read().split("\n\n\n") if b.strip()]
if len(blocks) != 4 or any(len(b.splitlines()) < 3 for b in blocks):
    bad.append("latency_cdf.dat has %d blocks, want 4 with samples" % len(blocks))
with open(os.path.join(out, "latency_cdf.png"), "rb") as f:
    if f.read(8) != b"\x89PNG\r\n\x1a\n":
        bad.append("latency_cdf.png is not a PNG")
if bad:
    print("\n".join(bad))
    sys.exit(1)
print("ok 3: latency_cdf.png and a CDF block per scenario with A")
PY

work=$(cat "$out/workdir.txt")
left=$(pgrep -fc -- "$work" || true)
[ "$left" -eq 0 ] || fail "$left processes of the run ($work) are left: $(pgrep -fa -- "$work")"
[ ! -e "$work" ] || fail "run.sh left its work directory $work"
echo "ok 4: nothing of the run ($work) is left"
echo "PASSED: benchmarks/mpi_qos/run.sh on a 2-node Slurm cluster"
