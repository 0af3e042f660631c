#!/usr/bin/env python3
"""results.py - the figures of run.sh (QoS between jobs) from what its jobs printed.

    results.py rate OUT SHARE
        bytes/s for each rank of job B under the rate-limit scenario: SHARE of what one rank of
        B moved per second alone (median of the b_alone repetitions so far; a rank sends half
        of B's goodput).
    results.py summarize OUT SECONDS REPS SIZE_A SIZE_B WINDOW_B RATE_SHARE QOS_B
        writes OUT/results.json (every repetition, the medians, the ratios against the goal, the
        policies seen on job A's apps) and OUT/latency_cdf.dat (A's round trips per scenario, for
        latency_cdf.gp); prints a summary. Exit 1, naming what is missing, when any figure or the
        proof that the QoS rule reached job A's apps on both nodes is missing.

OUT holds jobs.txt ("TAG a=JOB b=JOB" per scenario run), TAG-a.out (qos_latency's JSON line),
TAG-a.samples (A's round trips, sorted), TAG-b.out (qos_stream's "sample T BYTES" lines) and
policy-list-nN-TAG.json (`policyctl list --json` while A ran under the QoS rule)."""
import json
import os
import statistics
import sys

SCENARIOS = ("a_alone", "b_alone", "a_with_b", "a_with_b_qos", "a_with_b_ratelimit")
WITH_A = ("a_alone", "a_with_b", "a_with_b_qos", "a_with_b_ratelimit")
WITH_B = ("b_alone", "a_with_b", "a_with_b_qos", "a_with_b_ratelimit")
NODES = ("n1", "n2")
CDF_POINTS = 2000


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def jobs(out):
    """{TAG: {"a": JOB, "b": JOB}} from jobs.txt, in the order they ran."""
    runs = {}
    for line in read(os.path.join(out, "jobs.txt")).splitlines():
        tag, *ids = line.split()
        runs[tag] = dict(i.split("=", 1) for i in ids)
    return runs


def latency(out, tag):
    for line in read(os.path.join(out, tag + "-a.out")).splitlines():
        if line.startswith("{") and '"qos_latency"' in line:
            return json.loads(line)
    return None


def samples(out, tag):
    pts = []
    for line in read(os.path.join(out, tag + "-b.out")).splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "sample":
            pts.append((float(f[1]), float(f[2])))
    return pts


def bytes_at(pts, t):
    """B's delivered bytes at time T, interpolated between the samples around it (None outside)."""
    for (ta, ba), (tb, bb) in zip(pts, pts[1:]):
        if ta <= t <= tb:
            return ba + (bb - ba) * ((t - ta) / (tb - ta) if tb > ta else 1.0)
    return None


def goodput(pts, t0, t1):
    """MB/s (10^6 B) from T0 to T1, the bytes at each end interpolated between B's samples, so
    a round that spans the whole window (B stalled) still counts what moved in it."""
    b0, b1 = bytes_at(pts, t0), bytes_at(pts, t1)
    if b0 is None or b1 is None or t1 <= t0:
        return None
    return (b1 - b0) / (t1 - t0) / 1e6


def one_run(out, scenario, tag, ids):
    r = {"job_a": ids.get("a"), "job_b": ids.get("b")}
    lat = latency(out, tag) if scenario in WITH_A else None
    if scenario in WITH_A and lat:
        r.update({k: lat[k] for k in ("iters", "rtt_p50_us", "rtt_p99_us", "rtt_mean_us", "rtt_max_us")})
    if scenario in WITH_B:
        pts = samples(out, tag)
        if scenario == "b_alone":
            t0, t1 = (pts[0][0], pts[-1][0]) if pts else (0, 0)
        else:
            t0, t1 = (lat["t_start"], lat["t_end"]) if lat else (0, 0)
        r["b_goodput_mbps"] = goodput(pts, t0, t1)
        r["b_samples_in_window"] = len([p for p in pts if t0 <= p[0] <= t1])
        r["b_longest_round_s"] = max((b[0] - a[0] for a, b in zip(pts, pts[1:])), default=None)
    return r


def median(values):
    v = [x for x in values if x is not None]
    return statistics.median(v) if v else None


def attached(out, tag, ids):
    """{node: {"a": [...], "b": [...]}}: the QosEngines policyctl listed on A's and B's apps."""
    seen = {}
    for n in NODES:
        text = read(os.path.join(out, "policy-list-%s-%s.json" % (n, tag)))
        entries = json.loads(text).get("attached", []) if text else []
        seen[n] = {}
        for role in ("a", "b"):
            seen[n][role] = [
                {"pid": e["pid"], "engine_id": e["engine_id"], "job": e["job"],
                 "job_verified": e["job_verified"],
                 "class": e.get("stats", {}).get("settings", {}).get("class"),
                 "calls": e.get("stats", {}).get("calls"), "paced": e.get("stats", {}).get("paced"),
                 "urgency": e.get("stats", {}).get("urgency")}
                for e in entries if e.get("engine") == "QosEngine" and e.get("job") == ids.get(role)]
    return seen


def summarize(out, seconds, reps, size_a, size_b, window_b, rate_share, qos_b):
    runs = jobs(out)
    res = {"benchmark": "mpi_qos", "command": "benchmarks/mpi_qos/run.sh",
           "params": {"seconds": int(seconds), "reps": int(reps), "size_a": size_a,
                      "size_b": size_b, "window_b": int(window_b), "rate_share": float(rate_share),
                      "qos_a": "class=latency", "qos_b": qos_b},
           "uptime_before": read(os.path.join(out, "uptime-before.txt")).strip(),
           "uptime_after": read(os.path.join(out, "uptime-after.txt")).strip(),
           "scenarios": {}, "missing": []}
    for s in SCENARIOS:
        reps_of = [one_run(out, s, tag, ids) for tag, ids in runs.items() if tag.rsplit("-r", 1)[0] == s]
        sc = {"reps": reps_of}
        for key in ("rtt_p50_us", "rtt_p99_us", "b_goodput_mbps"):
            if any(key in r for r in reps_of):
                sc[key] = median(r.get(key) for r in reps_of)
        res["scenarios"][s] = sc
        if len(reps_of) != int(reps):
            res["missing"].append("%s ran %d of %s repetitions" % (s, len(reps_of), reps))
        for i, r in enumerate(reps_of):
            for key in (("rtt_p50_us", "rtt_p99_us") if s in WITH_A else ()) + \
                       (("b_goodput_mbps",) if s in WITH_B else ()):
                if r.get(key) is None:
                    res["missing"].append("%s rep %d: no %s" % (s, i + 1, key))
    qos_tags = [t for t in runs if t.startswith("a_with_b_qos-r")]
    res["policy"] = {t: attached(out, t, runs[t]) for t in qos_tags}
    for t, nodes in res["policy"].items():
        for n, roles in nodes.items():
            if not any(e["class"] == "latency" for e in roles["a"]):
                res["missing"].append("%s: policyctl list on %s showed no latency-class QosEngine "
                                      "on job %s's apps" % (t, n, runs[t].get("a")))
    sc = res["scenarios"]

    def ratio(a, b):
        return a / b if a is not None and b else None
    alone_p99 = sc["a_alone"].get("rtt_p99_us")
    alone_bw = sc["b_alone"].get("b_goodput_mbps")
    res["ratios"] = {
        "p99_with_b_over_alone": ratio(sc["a_with_b"].get("rtt_p99_us"), alone_p99),
        "p99_qos_over_alone": ratio(sc["a_with_b_qos"].get("rtt_p99_us"), alone_p99),
        "p99_ratelimit_over_alone": ratio(sc["a_with_b_ratelimit"].get("rtt_p99_us"), alone_p99),
        "b_share_with_a": ratio(sc["a_with_b"].get("b_goodput_mbps"), alone_bw),
        "b_share_qos": ratio(sc["a_with_b_qos"].get("b_goodput_mbps"), alone_bw),
        "b_share_ratelimit": ratio(sc["a_with_b_ratelimit"].get("b_goodput_mbps"), alone_bw),
    }
    rt = res["ratios"]
    for p in ("qos", "ratelimit"):
        a, b = rt["p99_%s_over_alone" % p], rt["b_share_%s" % p]
        rt["goal_met_" + p] = a is not None and b is not None and a <= 2.0 and b >= 0.7
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(res, f, indent=1)
    write_cdf(out, runs, sc)
    print_summary(res)
    return 1 if res["missing"] else 0


def write_cdf(out, runs, sc):
    """One block per scenario with A (the first repetition): "round trip fraction" pairs."""
    with open(os.path.join(out, "latency_cdf.dat"), "w") as f:
        for s in WITH_A:
            tag = next((t for t in runs if t.rsplit("-r", 1)[0] == s), None)
            vals = [float(x) for x in read(os.path.join(out, "%s-a.samples" % tag)).split()] if tag else []
            p50, p99 = sc[s].get("rtt_p50_us"), sc[s].get("rtt_p99_us")
            f.write('"%s (p50 %s, p99 %s us)"\n' % (s, fmt(p50), fmt(p99)))
            step = max(1, len(vals) // CDF_POINTS)
            for i in list(range(0, len(vals), step)) + ([len(vals) - 1] if vals else []):
                f.write("%.1f %.5f\n" % (vals[i], (i + 1) / len(vals)))
            if not vals:
                f.write("1 0\n")      # an empty block would end the file for gnuplot
            f.write("\n\n")


def fmt(v):
    return "-" if v is None else ("%.0f" % v)


def print_summary(res):
    sc, rt = res["scenarios"], res["ratios"]
    print("QoS between jobs: A = qos_latency (%s B), B = qos_stream (%s x %d both ways), %d s, %d rep(s)"
          % (res["params"]["size_a"], res["params"]["size_b"], res["params"]["window_b"],
             res["params"]["seconds"], res["params"]["reps"]))
    print("load before: %s" % res["uptime_before"])
    print("load after:  %s" % res["uptime_after"])
    print("%-20s %12s %12s %14s" % ("scenario", "A p50 (us)", "A p99 (us)", "B (MB/s)"))
    for s in SCENARIOS:
        print("%-20s %12s %12s %14s" % (s, fmt(sc[s].get("rtt_p50_us")), fmt(sc[s].get("rtt_p99_us")),
                                        fmt(sc[s].get("b_goodput_mbps"))))
    for k, v in rt.items():
        print("%-26s %s" % (k, v if isinstance(v, bool) or v is None else "%.2f" % v))
    for m in res["missing"]:
        print("MISSING: " + m)


def rate(out, share):
    runs = jobs(out)
    alone = [one_run(out, "b_alone", t, ids).get("b_goodput_mbps") for t, ids in runs.items()
             if t.startswith("b_alone-r")]
    g = median(alone)
    if not g:
        print("results.py: no b_alone goodput to derive the rate limit from", file=sys.stderr)
        return 1
    print("%d" % (g * 1e6 / 2 * float(share)))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "rate":
        sys.exit(rate(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 10 and sys.argv[1] == "summarize":
        sys.exit(summarize(*sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
