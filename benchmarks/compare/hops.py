"""hops.py - where the time of a 64-byte mRPC round trip goes, per hop, on one path.

An mRPC round trip crosses client app -> its phoenixd (submission ring) -> wire -> the
server's phoenixd -> server app (completion ring), and the same way back: four app<->service
crossings, twice the service's engines, and what raw UCX needs for the wire. Three
measurements split it:

  differences   medians of the same run: mRPC - raw UCX = the four crossings and the
                service's work; mRPC with NullEngine - mRPC = four passes through one more
                engine (client tx, server rx, server tx, client rx);
  CPU           CPU per round trip of each process (rpc_bench --cpu-pid), from the sweep;
  sleeps        context switches per round trip of each phoenixd and of the server app, in a
                run of its own at 64 B without warmup (so every switch belongs to a measured
                call), next to what one wakeup costs on this machine: `perf bench sched pipe`
                (two processes waking each other through a pipe; its time per round trip
                covers two wakeups);
  engines       in that same run, the time each engine of each phoenixd spent in progress()
                calls that did work, as the runtime counts it (phoenixctl list: busy_ns): the
                service's own work per round trip, hop by hop, without the waiting.
"""

import re
import shutil
import subprocess

import procs

SIZE = 64
PERF_LOOPS = "20000"


def wakeup_round_trip_us():
    """perf bench sched pipe's microseconds per round trip (two wakeups), or None."""
    if not shutil.which("perf"):
        return None
    try:
        out = subprocess.run(["perf", "bench", "sched", "pipe", "-l", PERF_LOOPS],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"([\d.]+)\s+usecs/op", out)
    return float(match.group(1)) if match else None


def _difference(a, b, parts=1):
    return (a - b) / parts if a is not None and b is not None else None


def probe_round_trips(system, path, budget, tag):
    """({role: context switches}, {node/engine: busy us}) per 64 B round trip, from a run
    without warmup (so that everything counted belongs to a measured call)."""
    budget.lat_warmup = 0
    rows, _, _ = system.run(path, "latency", [SIZE], budget, tag)
    calls = sum(r["iters"] for r in rows)
    if not calls:
        return {}, {}
    return ({role: n / calls for role, n in system.last_switches.items()},
            {k: ns / calls / 1000 for k, ns in system.last_engine_ns.items()})


def analyse(results, path, mrpc, probe_budget, tag):
    """The per-hop picture of PATH; MRPC is the plain mRPC system (None: not run)."""
    rtt = {s: results.median(path.name, s, "latency", SIZE, "rtt_p50_us")
           for s in ("ucx", "mrpc", "mrpc_null")}
    hops = {
        "rtt_p50_us": rtt,
        "service_overhead_us": _difference(rtt["mrpc"], rtt["ucx"]),
        "per_crossing_us": _difference(rtt["mrpc"], rtt["ucx"], 4),
        "null_engine_per_pass_us": _difference(rtt["mrpc_null"], rtt["mrpc"], 4),
        "cpu_us_per_round_trip": results.breakdown(path.name, "mrpc", "latency", SIZE),
        "switches_per_round_trip": {},
        "engine_us_per_round_trip": {},
        "wakeup_round_trip_us": wakeup_round_trip_us(),
    }
    if mrpc is not None:
        try:
            hops["switches_per_round_trip"], hops["engine_us_per_round_trip"] = \
                probe_round_trips(mrpc, path, probe_budget, tag)
        except procs.ProcError as e:
            results.note(path.name, f"per-hop probe failed: {e}")
    return hops
