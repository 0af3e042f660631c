"""report.py - the runner's outputs: results.csv, summary.json, summary.md, latency.png and
bandwidth.png in the --out directory.

Every figure is a median over the repetitions (results.py). The goals of the benchmark issue
are ratios of two systems measured in the same run on the same path:

  p1_rtt_vs_ucx, p1_rtt_vs_openmpi   mRPC 64 B round trip p50 / raw UCX's, / Open MPI's
                                     (two-node path)
  p2_goodput_vs_ucx                  mRPC 8 MiB goodput / raw UCX bandwidth (two-node)
  p3_rate_vs_ucx                     mRPC calls/s, 32 B with 32 outstanding / raw UCX AM
                                     messages/s, same window (two-node)
  p4_samenode_vs_openmpi_shm         mRPC 64 B round trip / Open MPI's (one-node, shm)
  p5_idle_cpu_pct                    idle phoenixd with idle registered apps, % of one core
  m1_mpi_lat_vs_mrpc                 mpi-compat 64 B one-way latency p50 / mRPC's half round
                                     trip p50 (two-node): what MPI adds to the calls it makes
  m2_mpi_bw_vs_openmpi               mpi-compat MB/s / Open MPI's, the worst size of 1 MiB and
                                     above in the sweep (two-node)

The "mpicompat" section of summary.json has both mpi-compat ratios on every path, by size.

A goal whose figures are missing (system skipped or failed, size not in the sweep) is null,
and summary.md says why. Plots are drawn by gnuplot (pngcairo, else png).
"""

import csv
import json
import os
import shutil
import subprocess

SMALL, LARGE, RATE = 64, 8 << 20, 32
CSV_FIELDS = ["path", "system", "rep", "pattern", "size", "iters", "rtt_p50_us", "rtt_p99_us",
              "mbps", "ops_per_s", "cpu_us_per_op", "payload_bytes", "transport",
              "run_wire_bytes", "wire_check", "cpu_breakdown", "coll_us"]
GOALS = [  # key, goal, what, comparison, target
    ("p1_rtt_vs_ucx", "P1", "64 B RPC round trip / raw UCX (two-node)", "<=", 1.25),
    ("p1_rtt_vs_openmpi", "P1", "64 B RPC round trip / Open MPI (two-node)", "<=", 1.0),
    ("p2_goodput_vs_ucx", "P2", "8 MiB goodput / raw UCX (two-node)", ">=", 0.9),
    ("p3_rate_vs_ucx", "P3", "32 B calls/s, 32 outstanding / raw UCX AM rate (two-node)",
     ">=", 0.5),
    ("p4_samenode_vs_openmpi_shm", "P4", "64 B round trip / Open MPI shm (one-node)", "<=", 4.0),
    ("p5_idle_cpu_pct", "P5", "idle phoenixd, % of one core", "<=", 0.5),
    ("m1_mpi_lat_vs_mrpc", "M1", "mpi-compat 64 B one-way / mRPC half round trip (two-node)",
     "<=", 1.1),
    ("m2_mpi_bw_vs_openmpi", "M2", "mpi-compat MB/s / Open MPI, worst size >= 1 MiB (two-node)",
     ">=", 0.9),
]
MPI_BW_FROM = 1 << 20
RATIO_METRICS = [  # label, pattern, size, metric
    ("RTT p50, 64 B", "latency", SMALL, "rtt_p50_us"),
    ("RTT p99, 64 B", "latency", SMALL, "rtt_p99_us"),
    ("MB/s, 8 MiB", "bandwidth", LARGE, "mbps"),
    ("ops/s, 32 B x 32", "rate", RATE, "ops_per_s"),
    ("CPU us per 64 B round trip", "latency", SMALL, "cpu_us_per_op"),
    ("CPU us per 8 MiB message", "bandwidth", LARGE, "cpu_us_per_op"),
]
PLOTS = [("latency", "rtt_p50_us", "round trip p50 (us)", "latency.png",
          "Latency: one message each way, median of the per-run p50s"),
         ("bandwidth", "mbps", "MB/s (10^6 B/s)", "bandwidth.png",
          "Bandwidth: a window of messages in flight, median over the runs")]
COLOURS = {"ucx": "#1f77b4", "openmpi": "#2ca02c", "mpich": "#9467bd", "mrpc": "#d62728",
           "mrpc_null": "#ff7f0e", "mpicompat": "#8c564b"}


def ratio(a, b):
    return a / b if a is not None and b else None


def goal_values(results):
    m = results.median
    return {
        "p1_rtt_vs_ucx": ratio(m("two-node", "mrpc", "latency", SMALL, "rtt_p50_us"),
                               m("two-node", "ucx", "latency", SMALL, "rtt_p50_us")),
        "p1_rtt_vs_openmpi": ratio(m("two-node", "mrpc", "latency", SMALL, "rtt_p50_us"),
                                   m("two-node", "openmpi", "latency", SMALL, "rtt_p50_us")),
        "p2_goodput_vs_ucx": ratio(m("two-node", "mrpc", "bandwidth", LARGE, "mbps"),
                                   m("two-node", "ucx", "bandwidth", LARGE, "mbps")),
        "p3_rate_vs_ucx": ratio(m("two-node", "mrpc", "rate", RATE, "ops_per_s"),
                                m("two-node", "ucx", "rate", RATE, "ops_per_s")),
        "p4_samenode_vs_openmpi_shm": ratio(m("one-node", "mrpc", "latency", SMALL, "rtt_p50_us"),
                                            m("one-node", "openmpi", "latency", SMALL,
                                              "rtt_p50_us")),
        "p5_idle_cpu_pct": results.idle.get("phoenixd_cpu_pct"),
        "m1_mpi_lat_vs_mrpc": mpicompat_ratios(results, "two-node")["lat64_vs_mrpc_half_rtt"],
        "m2_mpi_bw_vs_openmpi": mpicompat_ratios(results, "two-node")["bw_vs_openmpi_worst"],
    }


def mpicompat_ratios(results, path):
    """mpi-compat against mRPC (64 B latency: one-way / half round trip, i.e. round trip /
    round trip) and against Open MPI (MB/s at every size of 1 MiB and above, and the worst)."""
    m = results.median
    bw = {size: ratio(m(path, "mpicompat", "bandwidth", size, "mbps"),
                      m(path, "openmpi", "bandwidth", size, "mbps"))
          for size in results.sizes(path, "mpicompat", "bandwidth") if size >= MPI_BW_FROM}
    known = [v for v in bw.values() if v is not None]
    return {"lat64_vs_mrpc_half_rtt": ratio(m(path, "mpicompat", "latency", SMALL, "rtt_p50_us"),
                                            m(path, "mrpc", "latency", SMALL, "rtt_p50_us")),
            "lat64_one_way_us": {s: (lambda v: v / 2 if v is not None else None)(
                m(path, s, "latency", SMALL, "rtt_p50_us")) for s in ("mpicompat", "openmpi",
                                                                       "mpich")},
            "mrpc_half_rtt_us": (lambda v: v / 2 if v is not None else None)(
                m(path, "mrpc", "latency", SMALL, "rtt_p50_us")),
            "bw_vs_openmpi_by_size": {str(k): v for k, v in sorted(bw.items())},
            "bw_vs_openmpi_worst": min(known) if known else None}


def goal_table(values):
    table = []
    for key, goal, what, cmp, target in GOALS:
        v = values[key]
        met = None if v is None else (v <= target if cmp == "<=" else v >= target)
        table.append({"key": key, "goal": goal, "what": what, "target": f"{cmp} {target}",
                      "value": v, "met": met})
    return table


# ---- numbers as text ---------------------------------------------------------------------------

def fmt(v, digits=3):
    if v is None:
        return "n/a"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def size_label(size):
    for unit, shift in (("M", 20), ("K", 10)):
        if size >= 1 << shift and size % (1 << shift) == 0:
            return f"{size >> shift}{unit}"
    return str(size)


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return lines


# ---- results.csv -------------------------------------------------------------------------------

def write_csv(path, results):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in results.rows:
            out = dict(r)
            out["cpu_breakdown"] = ";".join(f"{k}={v:.3f}" for k, v in
                                            (r.get("cpu_breakdown") or {}).items()
                                            if v is not None)
            w.writerow(out)


# ---- summary.json ------------------------------------------------------------------------------

def medians(results):
    out = []
    for key in sorted({(r["path"], r["system"], r["pattern"], r["size"]) for r in results.rows}):
        entry = dict(zip(("path", "system", "pattern", "size"), key))
        for metric in ("rtt_p50_us", "rtt_p99_us", "mbps", "ops_per_s", "cpu_us_per_op",
                       "coll_us"):
            entry[metric] = results.median(*key, metric)
        out.append(entry)
    return out


def ratios(results, path):
    out = {}
    for mine in ("mrpc", "mrpc_null"):
        for other in ("ucx", "openmpi", "mpich"):
            out.setdefault(mine, {})[other] = {
                label: ratio(results.median(path, mine, pattern, size, metric),
                             results.median(path, other, pattern, size, metric))
                for label, pattern, size, metric in RATIO_METRICS}
    return out


def write_json(path, results, run, systems, paths, machine_info):
    values = goal_values(results)
    doc = dict(values)
    doc.update({
        "goals": goal_table(values),
        "run": run,
        "paths": {p.name: {"over_netns": p.over_netns, "shm": p.shm, "note": p.note,
                           "notes": results.notes.get(p.name, [])} for p in paths},
        "systems": {s.name: {"label": s.label, "skipped": results.skipped.get(s.name)}
                    for s in systems},
        "ratios": {p.name: ratios(results, p.name) for p in paths},
        "mpicompat": {p.name: mpicompat_ratios(results, p.name) for p in paths},
        "medians": medians(results),
        "idle": results.idle,
        "hops": results.hops,
        "lanes": {f"{p}/{s}": sorted(v) for (p, s), v in results.lanes.items()},
        "failures": results.failures,
        "suspect_runs": results.suspect_runs(),
        "machine": machine_info,
    })
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, default=str)
    return values


# ---- summary.md --------------------------------------------------------------------------------

def path_table(results, path, systems):
    rows = []
    for s in systems:
        m = lambda pattern, size, metric: results.median(path.name, s.name, pattern, size,
                                                         metric)
        if not results.sizes(path.name, s.name, "latency") and \
                not results.sizes(path.name, s.name, "rate"):
            continue
        rows.append([s.label, ", ".join(sorted(results.lanes.get((path.name, s.name), []))),
                     fmt(m("latency", SMALL, "rtt_p50_us")), fmt(m("latency", SMALL, "rtt_p99_us")),
                     fmt(m("bandwidth", LARGE, "mbps")), fmt(m("rate", RATE, "ops_per_s")),
                     fmt(m("latency", SMALL, "cpu_us_per_op")),
                     fmt(m("bandwidth", LARGE, "cpu_us_per_op"))])
    return md_table(["system", "wire (lanes)", "RTT p50 64 B, us", "RTT p99 64 B, us",
                     "MB/s 8 MiB", "ops/s 32 B x32", "CPU us / 64 B RT", "CPU us / 8 MiB msg"],
                    rows)


def ratio_table(results, path):
    r = ratios(results, path.name)
    rows = []
    for mine, label in (("mrpc", "mRPC"), ("mrpc_null", "mRPC+Null")):
        for metric_label, *_ in RATIO_METRICS:
            rows.append([f"{label} {metric_label}"] +
                        [fmt(r[mine][other][metric_label])
                         for other in ("ucx", "openmpi", "mpich")])
    return md_table(["ratio", "/ raw UCX", "/ Open MPI", "/ MPICH"], rows)


def by_size_table(results, path, systems, pattern, metric):
    sizes = sorted({r["size"] for r in results.rows
                    if r["path"] == path.name and r["pattern"] == pattern})
    rows = [[s.label] + [fmt(results.median(path.name, s.name, pattern, size, metric))
                         for size in sizes]
            for s in systems if results.sizes(path.name, s.name, pattern)]
    return md_table(["system"] + [size_label(s) for s in sizes], rows) if rows else []


def hops_lines(hops):
    if not hops:
        return []
    rtt = hops["rtt_p50_us"]
    lines = [f"- 64 B round trip p50: raw UCX {fmt(rtt.get('ucx'))} us, mRPC "
             f"{fmt(rtt.get('mrpc'))} us, mRPC+Null {fmt(rtt.get('mrpc_null'))} us.",
             f"- Service overhead (mRPC - UCX): {fmt(hops['service_overhead_us'])} us per round "
             f"trip = {fmt(hops['per_crossing_us'])} us per app<->service crossing (4 per round "
             f"trip, service work included).",
             f"- One more engine (NullEngine): {fmt(hops['null_engine_per_pass_us'])} us per pass "
             f"(4 passes per round trip)."]
    cpu = hops.get("cpu_us_per_round_trip") or {}
    if cpu:
        lines.append("- CPU per round trip by process: " +
                     ", ".join(f"{k} {fmt(v)} us" for k, v in sorted(cpu.items())) + ".")
    sw = hops.get("switches_per_round_trip") or {}
    if sw:
        lines.append("- Context switches per round trip (sleeps and preemptions): " +
                     ", ".join(f"{k} {fmt(v)}" for k, v in sorted(sw.items())) + ".")
    eng = {k: v for k, v in (hops.get("engine_us_per_round_trip") or {}).items() if v}
    if eng:
        lines.append("- Service work per round trip, from the runtimes' counters (time in engine "
                     "calls that did work; each engine is passed twice per round trip): " +
                     ", ".join(f"{k} {fmt(v)} us" for k, v in sorted(eng.items())) +
                     f"; together {fmt(sum(eng.values()))} us.")
    if hops.get("wakeup_round_trip_us") is not None:
        lines.append(f"- Calibration: two processes waking each other through a pipe take "
                     f"{fmt(hops['wakeup_round_trip_us'])} us per round trip here "
                     f"(perf bench sched pipe: two wakeups).")
    return lines


def mpicompat_lines(results, path):
    r = mpicompat_ratios(results, path.name)
    if not results.sizes(path.name, "mpicompat", "latency"):
        return []
    one_way = r["lat64_one_way_us"]
    bw = ", ".join(f"{size_label(int(k))} {fmt(v)}" for k, v in r["bw_vs_openmpi_by_size"].items())
    return ["", "mpi-compat:", "",
            f"- 64 B one-way latency p50: mpi-compat {fmt(one_way['mpicompat'])} us, mRPC half "
            f"round trip {fmt(r['mrpc_half_rtt_us'])} us (ratio {fmt(r['lat64_vs_mrpc_half_rtt'])}, "
            f"goal <= 1.1); Open MPI {fmt(one_way['openmpi'])} us, MPICH {fmt(one_way['mpich'])} us.",
            f"- MB/s / Open MPI at 1 MiB and above: {bw or 'n/a'} (worst "
            f"{fmt(r['bw_vs_openmpi_worst'])}, goal >= 0.9)."]


def goal_lines(values):
    rows = [[g["goal"], g["what"], g["target"], fmt(g["value"]),
             "n/a" if g["met"] is None else ("met" if g["met"] else "MISSED")]
            for g in goal_table(values)]
    return md_table(["goal", "figure", "target", "measured", ""], rows)


def write_md(path, results, run, systems, paths, machine_line, values):
    active = [s for s in systems if s.name not in results.skipped]
    kind = "quick" if run["quick"] else "full"
    lines = [f"# Comparison: raw UCX, Open MPI, MPICH, mRPC, mpi-compat ({kind})",
             "", f"Machine: {machine_line}", "",
             f"Sizes {', '.join(size_label(s) for s in run['sizes'])}; {run['reps']} "
             f"repetition(s), systems in a new random order every repetition (seed {run['seed']});"
             f" time budget {run['seconds']} s per size; phoenixd runtime.spin_us = "
             f"{run['spin_us']}"
             f"{' (runtime.mode = dedicate, polling apps)' if run.get('dedicate') else ''}"
             f"{'; same-node path off (--no-same-node)' if run.get('same_node') is False else ''}"
             ". Every figure is the median over the repetitions.", "",
             "Patterns: *latency* = one message each way, one at a time (RTT = round trip); "
             "*bandwidth* = 16 messages in flight (baselines: window then ack; mRPC: 16 calls "
             "outstanding, empty replies), MB/s = 10^6 B/s of payload one way; *rate* = 32 B "
             "messages, 32 in flight (raw UCX: sliding window; MPI: window then ack; mRPC: 32 "
             "calls outstanding, 32 B replies). CPU = user+sys of every process in the data path "
             "(both ranks / both UCX processes; for mRPC both apps and every phoenixd) over the "
             "measured phase, per op (round trip, message, or call).", "",
             "## Goals", ""] + goal_lines(values)
    for p in paths:
        lines += ["", f"## Path: {p.name} ({'shared memory' if p.shm else 'kernel TCP'})", ""]
        for note in ([p.note] if p.note else []) + results.notes.get(p.name, []):
            lines.append(f"**Note:** {note}  ")
        lines += [""] + path_table(results, p, active) + [""] + ratio_table(results, p)
        for title, pattern, metric in (("RTT p50 (us) by size", "latency", "rtt_p50_us"),
                                       ("MB/s by size", "bandwidth", "mbps"),
                                       ("ops/s (32 B, 32 in flight)", "rate", "ops_per_s"),
                                       ("messages/s by size (16 in flight)", "bandwidth",
                                        "ops_per_s"),
                                       ("MPI_Allreduce on 4 ranks, us per call, by size",
                                        "allreduce", "coll_us"),
                                       ("MPI_Bcast on 4 ranks, us per call, by size", "bcast",
                                        "coll_us")):
            table = by_size_table(results, p, active, pattern, metric)
            if table:
                lines += ["", f"{title}:", ""] + table
        lines += mpicompat_lines(results, p)
        if results.hops.get(p.name):
            lines += ["", "Where the time goes (mRPC, 64 B):", ""]
            lines += hops_lines(results.hops[p.name])
    lines += ["", "## Checks", ""] + check_lines(results)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def check_lines(results):
    lines = [f"- skipped: {name}: {why}" for name, why in results.skipped.items()]
    lines += [f"- FAILED: {f['path']} {f['system']} {f['pattern']} (rep {f['rep']}): {f['error']}"
              for f in results.failures]
    suspects = results.suspect_runs()
    lines += [f"- wire check {r['path']} {r['system']} {r['pattern']} rep {r['rep']}: "
              f"{r['wire_check']} ({r['wire_bytes']} B on the wire, {r['payload_bytes']} B "
              f"payload)" for r in suspects]
    judged = [r for r in results.runs if r["wire_check"] == "ok"]
    lines.append(f"- wire check: {len(judged)} run(s) ok, {len(suspects)} suspect "
                 f"(two-node: payload crossed the path's device; one-node: it did not)")
    if results.idle:
        i = results.idle
        lines.append(f"- idle: phoenixd {fmt(i.get('phoenixd_cpu_pct'))} % of a core, "
                     f"registered idle apps {fmt(i.get('apps_cpu_pct'))} % together, over "
                     f"{fmt(i.get('seconds'))} s")
    return lines


# ---- plots -------------------------------------------------------------------------------------

def gnuplot_terminal():
    try:
        out = subprocess.run(["gnuplot", "-e", "set terminal"], capture_output=True, text=True,
                             timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return "pngcairo" if "pngcairo" in out.stdout + out.stderr else "png"


def plot(outdir, results, systems, paths):
    """latency.png and bandwidth.png; returns None, or why they could not be drawn."""
    if not shutil.which("gnuplot"):
        return "gnuplot not found"
    terminal = gnuplot_terminal() or "png"
    datadir = os.path.join(outdir, "plot-data")
    os.makedirs(datadir, exist_ok=True)
    for pattern, metric, ylabel, png, title in PLOTS:
        curves = write_curves(datadir, results, systems, paths, pattern, metric)
        script = plot_script(terminal, os.path.join(outdir, png), title, ylabel, curves,
                             sorted({s for _, _, _, sizes in curves for s in sizes}))
        with open(os.path.join(datadir, png + ".gp"), "w") as f:
            f.write(script)
        out = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0:
            return f"gnuplot failed for {png}: {out.stderr.strip()[:300]}"
    return None


def write_curves(datadir, results, systems, paths, pattern, metric):
    curves = []
    for pi, p in enumerate(paths):
        for si, s in enumerate(systems):
            points = [(size, results.median(p.name, s.name, pattern, size, metric))
                      for size in results.sizes(p.name, s.name, pattern)]
            points = [(size, v) for size, v in points if v]
            if not points:
                continue
            data = os.path.join(datadir, f"{pattern}-{p.name}-{s.name}.dat")
            with open(data, "w") as f:
                f.write("# size " + metric + "\n")
                f.writelines(f"{size} {v}\n" for size, v in points)
            style = (f"dt {1 + pi} lc rgb '{COLOURS.get(s.name, 'black')}' "
                     f"pt {5 + 2 * pi} lw 1.5")
            curves.append((data, f"{s.label}, {p.name}", style, [size for size, _ in points]))
    return curves


def plot_script(terminal, png, title, ylabel, curves, sizes):
    """Solid lines: two-node path; dashed: one-node. One colour per system."""
    tics = ", ".join(f'"{size_label(s)}" {s}' for s in sizes)
    plots = ", \\\n     ".join(f"'{data}' using 1:2 with linespoints {style} title '{name}'"
                               for data, name, style, _ in curves) or "NaN notitle"
    lines = [f"set terminal {terminal} size 1100,700", f"set output '{png}'",
             f"set title '{title}'", "set logscale xy", "set xlabel 'message size (bytes)'",
             f"set ylabel '{ylabel}'", "set grid", "set key outside right top"]
    if sizes:
        lines.append(f"set xtics ({tics})")
    else:   # nothing measured: an empty plot still says so
        lines += ["unset logscale", "set xrange [0:1]", "set yrange [0:1]",
                  "set label 'no data' at 0.45,0.5"]
    return "\n".join(lines + [f"plot {plots}"]) + "\n"


# ---- compare --policies ------------------------------------------------------------------------

def policy_goal_values(figures):
    """The policy goals' figures (null when the benchmark did not run or failed)."""
    def get(bench, *keys):
        v = figures.get(bench)
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        return v
    return {
        "p6_null_overhead_pct": get("null", "p6_null_overhead_pct"),
        "p6_ratelimit_error_pct": get("ratelimit", "p6_ratelimit_error_pct"),
        "qos_p99_with_qos_over_alone": get("qos", "p99_qos_over_alone"),
        "qos_bulk_goodput_share": get("qos", "bulk_qos_share"),
        "qos_goal_met_reps": get("qos", "goal_met_reps"),
        "admission_p99_overload_us": get("admission", "overload_2x", "p99_us"),
    }


def qos_rep_rows(label, per_rep):
    """A row per repetition of the QoS goal (policies.qos_per_rep)."""
    return [[f"{label} rep {i + 1}: p99 with QoS / alone, bulk with QoS / alone",
             f"{fmt(r.get('p99_qos_us'))} / {fmt(r.get('p99_alone_us'))} us, "
             f"{fmt(r.get('bulk_qos_mbps'))} / {fmt(r.get('bulk_alone_mbps'))} MB/s",
             f"{fmt(r.get('p99_ratio'))}, {fmt(r.get('bulk_share'))}",
             "met" if r.get("goal_met") else "missed"]
            for i, r in enumerate(per_rep or [])]


def write_policies(out, figures, run, machine_info, machine_line):
    """summary.json and summary.md of `compare --policies`; the text of summary.md."""
    values = policy_goal_values(figures)
    doc = dict(values, run=run, policies=figures, machine=machine_info)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(doc, f, indent=1, default=str)
    q, a = figures.get("qos") or {}, figures.get("admission") or {}
    lat = lambda key: q.get(key) or {}
    rows = [
        ["p6_null_overhead_pct", "NullEngine on both sides, 64 B RTT p50", fmt(values[
            "p6_null_overhead_pct"]), "-"],
        ["p6_ratelimit_error_pct", "achieved vs set, worst of 1,000 and 50,000 req/s",
         fmt(values["p6_ratelimit_error_pct"]), "<= 2"],
        ["ratelimit calls/s: at 1,000 / at 50,000 / no policy", "64 B, 64 outstanding",
         " / ".join(fmt(((figures.get("ratelimit") or {}).get("achieved_by_rate") or {}).get(k))
                    for k in ("1000", "50000", "unlimited")), "-"],
        ["qos p99 (us): alone / with bulk / with bulk + QoS", "64 B, 1 outstanding",
         f"{fmt(lat('latency_alone').get('p99_us'))} / {fmt(lat('latency_with_bulk').get('p99_us'))}"
         f" / {fmt(lat('latency_with_bulk_qos').get('p99_us'))}", "QoS <= 2x alone"],
        ["qos p50 (us): alone / with bulk / bulk via other services / with bulk + QoS",
         "64 B, 1 outstanding",
         " / ".join(fmt(lat(k).get("p50_us")) for k in
                    ("latency_alone", "latency_with_bulk", "latency_with_bulk_apart",
                     "latency_with_bulk_qos")), "-"],
        ["qos bulk MB/s: alone / with latency / with QoS", "8 MiB, 8 outstanding",
         f"{fmt(q.get('bulk_alone_mbps'))} / {fmt(q.get('bulk_with_latency_mbps'))} / "
         f"{fmt(q.get('bulk_with_qos_mbps'))}", ">= 70 % of alone"],
        ["admission p99 (us): at cap / 2x overload", f"cap {a.get('cap')} outstanding",
         f"{fmt((a.get('at_cap') or {}).get('p99_us'))} / "
         f"{fmt((a.get('overload_2x') or {}).get('p99_us'))}", "-"],
    ]
    rows += qos_rep_rows("qos", q.get("per_rep"))
    for name, w in (q.get("workers") or {}).items():     # compare --qos-workers
        rows += qos_rep_rows(f"qos {name}", w.get("per_rep"))
        rows.append([f"qos {name}: goal met", "repetitions", f"{w.get('goal_met_reps')} of "
                     f"{len(w.get('per_rep') or [])}", "all"])
    errors = [f"* {k} failed: {v['error']}" for k, v in figures.items()
              if isinstance(v, dict) and "error" in v]
    errors += [f"* {k}: {v['note']}" for k, v in figures.items()
               if isinstance(v, dict) and "note" in v and v["note"]]
    text = "\n".join([f"# Policy benchmarks ({figures.get('path')}, {run['reps']} repetitions, "
                      f"medians)", "", machine_line,
                      f"load average before {figures.get('load_before')}, after "
                      f"{figures.get('load_after')}", ""] +
                     md_table(["figure", "what", "value", "goal"], rows) + [""] + errors) + "\n"
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text)
    return text
