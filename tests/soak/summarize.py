#!/usr/bin/env python3
"""summarize.py - the soak test's verdict: every caller's ledger, the churn log and the samples
of both services, as one JSON summary on stdout (soak.sh writes them in OUT).

Calls: the callers' ledgers added up (ledgers/N.json, one a caller: the last one stopped
cleanly, the others killed with -9, whose calls in flight are "abandoned", not lost).
Churn: churn.log, one action a line ("attach ratelimit", "kill9 caller", ...), counted.
Memory: samples.txt, "t node life rss_kB fds" lines. Service A lives the whole run: its samples
after the warm-up are cut in quarters and the
median of the last quarter is compared with the first's (the warm-up sees every churn action
once: a third of the run, at most 60 s, or an eighth of a longer one). Service B restarts: each life is
summed up by the median of its second half, and the first quarter of lives (at least one) is
compared with the last. Exit status 1 when a call was lost, duplicated or mismatched, or a
drift is above the limit, or a caller saw no call end OK for STALL_LIMIT_S (progress.txt,
"t caller ok" once a second)."""
import argparse
import collections
import glob
import json
import os
import statistics
import sys

LIMIT_PCT = 5.0
STALL_LIMIT_S = 30


def ledgers(out):
    total = collections.Counter()
    status = collections.Counter()
    callers = without_ok = 0
    paths = glob.glob(os.path.join(out, "ledgers", "*.json"))
    paths.sort(key=lambda p: int(os.path.basename(p).split(".")[0]))
    if not paths:
        raise SystemExit(f"summarize.py: no caller left a ledger in {out}/ledgers")
    for path in paths:
        with open(path) as f:
            text = f.read().strip()
        if not text:
            raise SystemExit(f"summarize.py: {path} is empty: a caller left no ledger")
        led = json.loads(text.splitlines()[-1])
        callers += 1
        for key in ("issued", "refused", "ended", "lost", "abandoned", "duplicated",
                    "mismatched", "reconnects"):
            total[key] += led[key]
        status.update(led["status"])
        without_ok += 0 if led["status"].get("OK") else 1
    calls = total["issued"] + total["refused"]
    return {"callers": callers, "calls": calls, **{k: total[k] for k in (
        "issued", "refused", "lost", "duplicated", "mismatched", "abandoned", "reconnects")},
        "status": dict(sorted(status.items())), "callers_without_ok": without_ok,
        "unfinished_last": not led["finished"]}


def stalls(out):
    """The longest time (s) a caller saw no call end OK, from progress.txt ("t caller ok")."""
    longest, last = 0, {}
    with open(os.path.join(out, "progress.txt")) as f:
        for line in f:
            t, caller, ok = (int(x) for x in line.split())
            since, seen = last.get(caller, (t, -1))
            if ok > seen:
                since = t
            longest = max(longest, t - since)
            last[caller] = (since, max(ok, seen))
    return longest


def churn(out):
    counts = collections.Counter()
    with open(os.path.join(out, "churn.log")) as f:
        for line in f:
            if line.strip():
                counts[line.strip()] += 1
    return dict(sorted(counts.items()))


def drift(first, last):
    return round(100.0 * (last - first) / first, 2) if first else 0.0


def quarters(values):
    q = max(1, len(values) // 4)
    return statistics.median(values[:q]), statistics.median(values[-q:])


def figures(name, rows):
    """rows: (rss, fds) in order; the first and last quarter's medians and drifts."""
    rss_first, rss_last = quarters([r[0] for r in rows])
    fds_first, fds_last = quarters([r[1] for r in rows])
    return {"samples": len(rows), "rss_kb_first": rss_first, "rss_kb_last": rss_last,
            "rss_drift_pct": drift(rss_first, rss_last), "fds_first": fds_first,
            "fds_last": fds_last, "fds_drift_pct": drift(fds_first, fds_last), "basis": name}


def memory(out, duration):
    warm = max(duration // 8, min(60, duration // 3))
    a, lives = [], collections.defaultdict(list)
    with open(os.path.join(out, "samples.txt")) as f:
        for line in f:
            t, node, life, rss, fds = line.split()
            if node == "a" and int(t) >= warm:
                a.append((int(rss), int(fds)))
            elif node == "b":
                lives[int(life)].append((int(rss), int(fds)))
    if len(a) < 4:
        raise SystemExit("summarize.py: too few samples of service A to judge its drift")
    result = {"service_a": figures("quarters of the run after %d s of warm-up" % warm, a)}
    late = []          # one (rss, fds) per life of B: the medians of its second half
    for life in sorted(lives):
        half = lives[life][len(lives[life]) // 2:]
        late.append((statistics.median(r[0] for r in half), statistics.median(r[1] for r in half)))
    if len(late) >= 2:
        result["service_b"] = figures("late samples of each of %d lives" % len(late), late)
    else:
        samples = lives[0][len(lives[0]) // 8:]
        result["service_b"] = figures("quarters of its one life", samples)
    result["service_b"]["lives"] = len(late)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=int, required=True)
    args = ap.parse_args()
    summary = {"duration_s": args.duration, "calls": ledgers(args.out),
               "longest_stall_s": stalls(args.out), "churn": churn(args.out),
               **memory(args.out, args.duration)}
    problems = []
    c = summary["calls"]
    for key in ("lost", "duplicated", "mismatched"):
        if c[key]:
            problems.append(f"{c[key]} calls {key}")
    if not c["status"].get("OK"):
        problems.append("no call succeeded")
    if c["unfinished_last"]:
        problems.append("the last caller did not drain and exit cleanly")
    if c["callers_without_ok"]:
        problems.append(f"{c['callers_without_ok']} callers saw no call end OK")
    if summary["longest_stall_s"] > STALL_LIMIT_S:
        problems.append(f"no call ended OK for {summary['longest_stall_s']} s "
                        f"(limit {STALL_LIMIT_S} s)")
    if summary["churn"].get("caller_died"):
        problems.append("a caller died without being killed")
    for svc in ("service_a", "service_b"):
        for what in ("rss", "fds"):
            d = summary[svc][f"{what}_drift_pct"]
            if d > LIMIT_PCT:
                problems.append(f"{svc} {what} grew {d} % (limit {LIMIT_PCT} %)")
    summary["problems"] = problems
    summary["passed"] = not problems
    json.dump(summary, sys.stdout, indent=1)
    print()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
