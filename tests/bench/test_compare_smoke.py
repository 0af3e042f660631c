#!/usr/bin/env python3
"""test_compare_smoke.py - runs benchmarks/compare --quick for real and checks what it writes.

    test_compare_smoke.py --compare PATH --build DIR --expect ucx,openmpi,...

Three cases, each bounded in time:

  outputs     compare --quick with tiny counts into a temporary directory must exit 0 and
              write results.csv (the header, rows with numbers; MPI_Allreduce and MPI_Bcast
              rows of every MPI, mpi-compat's among them), summary.md, summary.json (the
              goal keys present and numeric, mpi-compat's two ratios included) and two PNG files (by their signature); it
              must delete its network namespaces. It checks the form, not the figures.
  interrupt   SIGTERM in the middle of a run: compare exits 130 within 20 s, and none of the
              processes it had started (its descendants, seen while it ran) is still alive.
  policies    compare --policies --quick: exits 0 and writes summary.json with the policy
              figures (p6_null_overhead_pct, p6_ratelimit_error_pct, the QoS ratios, the
              admission p99) as numbers, and summary.md; it checks the form, not the figures.
  bad-input   bad options are refused with exit status 2.
  rpc-bench   rpc_bench itself against one phoenixd (started with the runner's own modules):
              2 server threads, 3 client threads x 4 outstanding, two sizes with exact call
              counts (every call in --log-latency), a timed run with --interval lines and
              empty replies, per-process CPU for --cpu-pid, a dead port that fails with its
              address, and the server stopping cleanly on SIGTERM. Unlike the runner's runs
              (MPI libraries leak at exit), these keep LeakSanitizer on in ASan builds.

--expect lists the systems whose programs the build made (CMake knows); each of them must have
run. A system the build did not make may be skipped: the test then prints SKIPPED with the
runner's reason and exits 77, which ctest reports as not run (and CI fails on). An MPI whose
mpirun is not installed is skipped the same way.
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

GOAL_KEYS = ("p1_rtt_vs_ucx", "p1_rtt_vs_openmpi", "p2_goodput_vs_ucx", "p3_rate_vs_ucx",
             "p4_samenode_vs_openmpi_shm", "p5_idle_cpu_pct", "m1_mpi_lat_vs_mrpc",
             "m2_mpi_bw_vs_openmpi")
GOAL_NEEDS = {"p1_rtt_vs_ucx": {"mrpc", "ucx"}, "p1_rtt_vs_openmpi": {"mrpc", "openmpi"},
              "p2_goodput_vs_ucx": {"mrpc", "ucx"}, "p3_rate_vs_ucx": {"mrpc", "ucx"},
              "p4_samenode_vs_openmpi_shm": {"mrpc", "openmpi"}, "p5_idle_cpu_pct": {"mrpc"},
              "m1_mpi_lat_vs_mrpc": {"mpicompat", "mrpc"},
              "m2_mpi_bw_vs_openmpi": {"mpicompat", "openmpi"}}
MPI_SYSTEMS = ("openmpi", "mpich", "mpicompat")   # these also run MPI_Allreduce and MPI_Bcast
CSV_HEADER = ["path", "system", "rep", "pattern", "size", "iters", "rtt_p50_us", "rtt_p99_us",
              "mbps", "ops_per_s", "cpu_us_per_op", "payload_bytes", "transport",
              "run_wire_bytes", "wire_check", "cpu_breakdown", "coll_us"]
NUMERIC = ("size", "iters", "rtt_p50_us", "rtt_p99_us", "mbps", "ops_per_s", "cpu_us_per_op",
           "coll_us")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUICK = ["--quick", "--seconds", "0.2", "--idle-seconds", "1"]
RUN_TIMEOUT_S = 420
INTERRUPT_AFTER_S = 4
INTERRUPT_GRACE_S = 20

failures = []
skips = []
SKIP_CODE = 77      # ctest's SKIP_RETURN_CODE for every test here (cmake/PhxTesting.cmake)


def skip(why):
    """Something this case is for could not run here: ctest reports the case as not run."""
    skips.append(why)
    print(f"    SKIPPED: {why}")


def check(ok, what):
    if not ok:
        failures.append(what)
        print(f"    FAILED: {what}")
    return ok


LSAN_SUPP = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lsan.supp")


def runner_env():
    env = dict(os.environ)
    # the MPI libraries' own leaks at exit are not ours (ASan builds)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
    return env


def leak_checked_env():
    """For our own programs alone (rpc_bench, phoenixd): leaks count, hwloc's excepted (see
    tests/lsan.supp; its suppression needs the full unwinder)."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":fast_unwind_on_malloc=0"
    env["LSAN_OPTIONS"] = env.get("LSAN_OPTIONS", "") + f":suppressions={LSAN_SUPP}"
    return env


def start(args, compare, build, out):
    return subprocess.Popen([sys.executable, compare, "--build", build, "--out", out] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=runner_env(), start_new_session=True)


def finish(proc, timeout):
    """(exit status, output); None if it overstayed and had to be stopped: SIGTERM first,
    so that it stops what it started, then SIGKILL to its group."""
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=INTERRUPT_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
        return None, out


# ---- outputs -----------------------------------------------------------------------------------

def check_csv(path, ran):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        rows = [dict(zip(header, r)) for r in reader]
    check(header == CSV_HEADER, f"results.csv header is {header}")
    for system in ran:
        check(any(r["system"] == system for r in rows), f"results.csv has no row of {system}")
    for system in set(ran) & set(MPI_SYSTEMS):
        for coll in ("allreduce", "bcast"):
            mine = [r for r in rows if (r["system"], r["pattern"]) == (system, coll)]
            check(mine and all(float(r["coll_us"] or 0) > 0 for r in mine),
                  f"results.csv: {system} has no {coll} rows with a positive coll_us")
    for r in rows:
        for key in NUMERIC:
            if r.get(key):
                try:
                    float(r[key])
                except ValueError:
                    check(False, f"results.csv: {key} = '{r[key]}' is not a number")


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_json(path, ran):
    with open(path) as f:
        doc = json.load(f)
    for key in GOAL_KEYS:
        check(key in doc, f"summary.json lacks {key}")
        if GOAL_NEEDS[key] <= set(ran):
            check(is_number(doc.get(key)), f"summary.json {key} = {doc.get(key)!r}, not a number")
    check(isinstance(doc.get("goals"), list) and len(doc["goals"]) == len(GOAL_KEYS),
          "summary.json goals table")
    check(not doc.get("failures"), f"summary.json failures: {doc.get('failures')}")
    return doc


def check_skips(doc, expect):
    """The systems that ran; fails for an expected one skipped for something the build owns."""
    ran = []
    for name, info in doc.get("systems", {}).items():
        reason = info.get("skipped")
        if not reason:
            ran.append(name)
        elif name in expect and "not built" in reason:
            check(False, f"{name} was built but the runner skipped it: {reason}")
        else:
            skip(f"{name}: {reason}")
    return ran


def test_outputs(compare, build, expect):
    with tempfile.TemporaryDirectory(prefix="compare-smoke.") as out:
        proc = start(QUICK, compare, build, out)
        rc, text = finish(proc, RUN_TIMEOUT_S)
        if not check(rc == 0, f"compare --quick exited {rc}"):
            print(text[-4000:])
        for name in ("results.csv", "summary.md", "summary.json", "latency.png",
                     "bandwidth.png"):
            check(os.path.exists(os.path.join(out, name)), f"{name} was not written")
        if failures:
            return
        with open(os.path.join(out, "summary.json")) as f:
            ran = check_skips(json.load(f), expect)
        check_json(os.path.join(out, "summary.json"), ran)
        check_csv(os.path.join(out, "results.csv"), ran)
        for png in ("latency.png", "bandwidth.png"):
            with open(os.path.join(out, png), "rb") as f:
                check(f.read(8) == PNG_SIGNATURE, f"{png} does not start with the PNG signature")
        with open(os.path.join(out, "summary.md")) as f:
            check("## Goals" in f.read(), "summary.md has no goals table")
        check(not namespaces_of(proc.pid), f"namespaces left behind: {namespaces_of(proc.pid)}")


def namespaces_of(pid):
    try:
        out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.split()[0] for line in out.splitlines() if line.startswith(f"phxcmp{pid}")]


# ---- interrupt ---------------------------------------------------------------------------------

def descendants(root):
    """PIDs of every live descendant of ROOT, from /proc's parent links."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_interrupt(compare, build):
    with tempfile.TemporaryDirectory(prefix="compare-smoke.") as out:
        proc = start(QUICK + ["--reps", "3"], compare, build, out)
        seen = set()
        deadline = time.monotonic() + INTERRUPT_AFTER_S
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= descendants(proc.pid)
            time.sleep(0.1)
        check(proc.poll() is None, "compare ended before it could be interrupted")
        check(seen, "compare had started no process within 4 s")
        proc.send_signal(signal.SIGTERM)
        rc, text = finish(proc, INTERRUPT_GRACE_S)
        if not check(rc == 130, f"compare exited {rc} after SIGTERM, not 130"):
            print(text[-2000:])
        time.sleep(0.5)
        left = sorted(p for p in seen if alive(p))
        check(not left, f"processes still alive after the interrupt: {left}")
        for pid in left:   # ours to clean up now
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        check(not namespaces_of(proc.pid), "namespaces left behind after the interrupt")


# ---- rpc_bench ---------------------------------------------------------------------------------

def runner_modules(compare):
    """The runner's own modules (services, procs, paths, build): the same phoenixd setup."""
    sys.dont_write_bytecode = True
    sys.path.insert(0, os.path.dirname(os.path.realpath(compare)))
    import build as build_mod
    import paths
    import procs
    import services
    return build_mod, paths, procs, services


def results_of(text):
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return ([j for j in lines if j.get("type") == "result"],
            [j for j in lines if j.get("type") == "interval"])


def check_result(j, size, reply, pids):
    check(j["size"] == size and j["req_size"] == size and j["reply_size"] == reply,
          f"rpc_bench result sizes {j}")
    check(j["threads"] == 3 and j["concurrency"] == 4, f"threads/concurrency in {j}")
    check(0 < j["rtt_p50_us"] <= j["rtt_p95_us"] <= j["rtt_p99_us"], f"percentiles in {j}")
    check(j["rpc_per_s"] > 0 and j["mbps"] > 0, f"rates in {j}")
    check(set(j["cpu_us_per_call_pids"]) == {str(p) for p in pids}, f"--cpu-pid keys in {j}")
    check(all(is_number(v) and v >= 0 for v in j["cpu_us_per_call_pids"].values()),
          f"--cpu-pid figures in {j}")


def rpc_bench_runs(m, rpc_bench, node, server, port, logdir):
    build_mod, paths, procs, services = m
    client = [rpc_bench, "-c", "127.0.0.1", "-p", str(port), "--num-server-threads", "2",
              "--num-client-threads", "3", "--concurrency", "4", "--json",
              "--cpu-pid", str(node.pid), "--cpu-pid", str(server.pid)]
    env = node.env(leak_checked_env())
    log = os.path.join(logdir, "latency.log")
    # exact counts: 600 calls per size over 3 threads, every one in the latency log
    c = procs.run("counted", client + ["-s", "64,4K", "-t", "600", "-w", "30", "-D", "20",
                                       "--log-latency", log], env, logdir, 60)
    check(c.rc == 0, f"rpc_bench client exited {c.rc}: {c.why()}")
    results, _ = results_of(c.output())
    check([j["size"] for j in results] == [64, 4096], f"result lines: {results}")
    for j, size in zip(results, (64, 4096)):
        check_result(j, size, size, (node.pid, server.pid))
        check(j["iters"] == 600, f"{j['iters']} calls measured at {size} B, not 600")
    with open(log) as f:
        rows = [line.split() for line in f if not line.startswith("#")]
    check(len(rows) == 1200 and {r[0] for r in rows} == {"64", "4096"} and
          {r[2] for r in rows} == {"0", "1", "2"}, "--log-latency: 1200 rows of 3 threads")
    # by time: intervals every 0.1 s of a 0.6 s budget, empty replies
    t = procs.run("timed", client + ["-s", "256", "--reply-size", "0", "-t", "10000000",
                                     "-w", "10", "-D", "0.6", "-i", "0.1"], env, logdir, 60)
    check(t.rc == 0, f"timed rpc_bench exited {t.rc}: {t.why()}")
    results, intervals = results_of(t.output())
    check(len(results) == 1 and len(intervals) >= 3, f"{len(intervals)} interval lines")
    if results:
        check_result(results[0], 256, 0, (node.pid, server.pid))
    # nobody on this port: a failure said, not a hang
    dead = services.free_port()
    d = procs.run("dead", [rpc_bench, "-c", f"127.0.0.1:{dead}", "-r", "64", "-D", "1"], env,
                  logdir, 60)
    check(d.rc == 1 and f"127.0.0.1:{dead}" in d.errors(), f"no server: exit {d.rc}, "
          f"stderr {d.errors()[-300:]!r}")


def test_rpc_bench(compare, build, expect):
    m = runner_modules(compare)
    build_mod, paths, procs, services = m
    b = build_mod.Build(build)
    missing = b.missing(["rpc_bench", "phoenixd", "plugin_mrpc", "plugin_ucx", "plugin_null"])
    if missing:
        if check("mrpc" not in expect, f"mRPC was built but {missing} are missing"):
            skip(f"not built: {', '.join(missing)}")
        return
    path = paths.Path("one-node", False, paths.LOOPBACK, paths.LOOPBACK)
    with tempfile.TemporaryDirectory(prefix="rpcb-smoke.", dir="/tmp") as d:
        logdir = os.path.join(d, "logs")
        os.makedirs(logdir)
        try:
            node = services.Node("n", path, path.server, b, d, logdir, services.SHIPPED_SPIN_US)
            node.start(leak_checked_env())
            port = services.free_port(2)        # two server threads: port and port + 1
            server = procs.Proc("server", [b.path("rpc_bench"), "--server", "-p", str(port),
                                           "--num-server-threads", "2"],
                                node.env(leak_checked_env()), logdir)
            server.wait_for(r"serving on 0\.0\.0\.0:\d+\.\.\d+ \(2 threads\)", 20)
            rpc_bench_runs(m, b.path("rpc_bench"), node, server, port, logdir)
            server.popen.send_signal(signal.SIGTERM)
            check(server.wait(10) == 0, "the server did not stop cleanly on SIGTERM")
        except procs.ProcError as e:
            check(False, str(e))
        finally:
            procs.stop_all()


# ---- policies ----------------------------------------------------------------------------------

POLICY_KEYS = ("p6_null_overhead_pct", "p6_ratelimit_error_pct", "qos_p99_with_qos_over_alone",
               "qos_bulk_goodput_share", "qos_goal_met_reps", "admission_p99_overload_us")


def test_policies(compare, build):
    with tempfile.TemporaryDirectory(prefix="compare-smoke.") as out:
        proc = start(["--policies", "--quick"], compare, build, out)
        rc, text = finish(proc, RUN_TIMEOUT_S)
        if not check(rc == 0, f"compare --policies --quick exited {rc}"):
            print(text[-4000:])
        for name in ("summary.md", "summary.json"):
            check(os.path.exists(os.path.join(out, name)), f"{name} was not written")
        if failures:
            return
        with open(os.path.join(out, "summary.json")) as f:
            doc = json.load(f)
        for key in POLICY_KEYS:
            check(is_number(doc.get(key)), f"summary.json {key} = {doc.get(key)!r}, not a number")
        pol = doc.get("policies", {})
        for bench in ("null", "ratelimit", "qos", "admission"):
            check(isinstance(pol.get(bench), dict) and "error" not in pol[bench],
                  f"summary.json policies.{bench}: {pol.get(bench)!r}")
        per_rep = (pol.get("qos") or {}).get("per_rep") or []
        check(len(per_rep) == doc.get("run", {}).get("reps") and
              all(is_number(r.get("p99_ratio")) and is_number(r.get("bulk_share"))
                  for r in per_rep), f"summary.json policies.qos.per_rep: {per_rep!r}")
        check(not namespaces_of(proc.pid), f"namespaces left behind: {namespaces_of(proc.pid)}")


# ---- bad input ---------------------------------------------------------------------------------

def test_bad_input(compare, build):
    for args in (["--reps", "0"], ["--sizes", "8:4"], ["--sizes", "0"], ["--systems", "nope"],
                 ["--seconds", "-1"], ["--idle-seconds", "0"], ["--spin-us", "-5"],
                 ["--frobnicate"], ["--policies", "nope"], ["--policies", "--rl-seconds", "0"]):
        with tempfile.TemporaryDirectory(prefix="compare-smoke.") as out:
            rc, text = finish(start(args, compare, build, out), 30)
            check(rc == 2, f"compare {' '.join(args)} exited {rc}, not 2")


CASES = {"outputs": test_outputs, "interrupt": test_interrupt, "bad-input": test_bad_input,
         "rpc-bench": test_rpc_bench, "policies": test_policies}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("case", choices=sorted(CASES))
    p.add_argument("--compare", required=True)
    p.add_argument("--build", required=True)
    p.add_argument("--expect", default="", help="systems the build made, comma-separated")
    args = p.parse_args()
    expect = [s for s in args.expect.split(",") if s]
    case = CASES[args.case]
    print(f"  case {args.case}")
    if case in (test_outputs, test_rpc_bench):
        case(args.compare, args.build, expect)
    else:
        case(args.compare, args.build)
    if failures:
        print(f"  FAILED ({len(failures)} failure(s))")
        return 1
    if skips:
        print(f"  SKIPPED ({len(skips)} part(s) could not run here)")
        return SKIP_CODE
    print("  passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
