"""policies.py - the policy benchmarks (P6 and issue 12) of `compare --policies`.

All four run on the runner's two-node path (paths.py: two network namespaces joined by a veth,
UCX over kernel TCP, each side pinned to its own CPU; loopback when namespaces cannot be made)
with one phoenixd per side that loads the null, ratelimit, admission and qos plugins, rpc_bench
servers on the server side and rpc_bench clients on the client side. A client starts held
(`rpc_bench --hold`): the policies are attached with policyctl while it waits, then it is let go,
so that every measured call goes through them. With `compare --dedicate` both services run
`runtime.mode = "dedicate"` (a runtime thread and a UCX worker per app; the apps poll), which is
what separates the latency app from the bulk app inside the shared services (RESULTS.md, "The latest
full run: 842830c, on a quiet machine").

  null       p6_null_overhead_pct: 64 B round trips, 1 outstanding, through a plain pair of apps
             and through a pair with NullEngine attached to both the client and the server;
             the two alternate, in a new random order every repetition. The figure is the
             median over repetitions of (p50 with NullEngine / p50 without - 1) * 100.
  ratelimit  p6_ratelimit_error_pct: 64 B calls, --rl-window outstanding (default 1024),
             RateLimitEngine at 1,000 and 50,000 requests/s for --rl-seconds:
             |achieved - set| / set * 100, the
             achieved rate being rpc_bench's calls/s over its measured step, after a warmup
             through the same limit long enough to empty the bucket's initial burst (else up
             to a twentieth of a second's worth of calls, 0.5 % of a 10 s run, would count as
             measured). The window is deep so that the client is not what limits the rate: with
             64 outstanding a loaded 2-core machine gave 7-15 k calls/s, with 256 to 1024 it
             gives 20-99 k (each wake-up of each process moves a batch of calls, and the time a
             wake-up waits for a CPU is what bounds the rate there, not the CPU per call); at
             50,000/s, 1024 calls leave a round trip 20 ms where 256 leave 5 ms, and the
             limited runs came closer to the setting with 1024 (benchmarks/RESULTS.md).
             Both rates and a run without the policy (what the machine gives) alternate;
             the figure per rate is the median over repetitions, and is left null (with a note)
             for a rate the client does not reach by 10 % without the policy. The goal figure
             is the worse of the two.
  qos        a latency app (64 B, 1 outstanding) and a bulk app (8 MiB requests, 8 B replies, 8
             outstanding), each with its own server, through the same two services: the latency
             app alone, the bulk app alone, both, both with QosEngine (class latency and class
             bulk, on both services: the clients and the servers; given as an administrator
             does, by a standing rule per Slurm job that attaches it when the app registers,
             before it connects, so that the latency apps' UCX engines get workers of their own
             with settings.ucx.worker = "class", docs/transport.md), and, to tell where the
             latency app waits, both with the bulk app through a second pair of services
             (with_bulk_apart: the apps share only the CPUs and the loopback). Each latency run
             also keeps its UCX engines' stats on both services (WaitProbe, below) and the busy
             time of both apps' engines on the client service. The bulk app starts first and runs 1.5x
             as long; the latency app is let go once the bulk app's warmup is over, so its whole
             run has bulk traffic beside it (the bulk app's goodput counts its whole measured
             step, 80 % of which overlaps the latency app). Goal: p99 with QoS <= 2x alone,
             while bulk keeps >= 70 % of its alone goodput; judged on the medians and, in
             per_rep / goal_met_reps, on each repetition's own variants. --qos-workers LIST
             runs the goal's three variants (alone, bulk alone, both with QoS) on one pair of
             services per way of running the apps (WORKER_VARIANTS: "kept", the default, a
             runtime thread kept for the latency app; with none kept, settings.ucx.worker
             "thread", "class", "app"; runtime.threads = 2; runtime.mode = "dedicate"), every
             (way, variant) of a repetition in one shuffled order.
  admission  AdmissionEngine with max_outstanding = 16, and a client keeping 32 calls outstanding
             (2x overload): the p99 of the admitted calls, against the p99 of 16 outstanding
             without the policy (refused calls are counted, not timed: rpc_bench --refusals-ok).

Repetitions interleave the variants of each benchmark; every figure is the median of the
repetitions, and the per-repetition values are kept in summary.json. The machine's load (other
programs, 2 cores) shows in the spread: the report says how many cores and the load average.
"""

import json
import os
import random
import statistics
import subprocess
import time

import procs
from services import Node, free_port

PLUGINS = ("mrpc", "ucx", "null", "ratelimit", "admission", "qos")
NEEDS = ["rpc_bench", "phoenixd", "phoenixctl", "policyctl"] + [f"plugin_{p}" for p in PLUGINS]
BENCHES = ("null", "ratelimit", "qos", "admission")
CTL_TIMEOUT_S = 15
START_TIMEOUT_S = 20
BULK_SIZE = 8 << 20
ADMISSION_CAP = 16
RL_WINDOW = 1024            # calls outstanding in the ratelimit runs (see above)
RL_WARMUP_S = 0.1           # warmup at the set rate: twice the default bucket (1/20 s)
QOS_JOBS = (91001, 91002)   # the Slurm jobs the QoS variant's latency and bulk apps belong to
# compare --qos-workers: how the services run their apps (runtime section, settings.ucx).
# "kept" is the shipped default: one thread for the apps, one kept for urgent apps (the QoS
# latency class from a standing rule); the others keep none, so that each is what it says.
WORKER_VARIANTS = {
    "kept": ('threads = 1; mode = "shared"; urgent_threads = 1;', 'worker = "thread";'),
    "thread": ('threads = 1; mode = "shared"; urgent_threads = 0;', 'worker = "thread";'),
    "class": ('threads = 1; mode = "shared"; urgent_threads = 0;', 'worker = "class";'),
    "app": ('threads = 1; mode = "shared"; urgent_threads = 0;', 'worker = "app";'),
    "threads2": ('threads = 2; mode = "shared"; urgent_threads = 0;', 'worker = "thread";'),
    "dedicate": ('threads = 8; mode = "dedicate"; urgent_threads = 0;', 'worker = "thread";'),
}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


class PolicySetup:
    """The two services, the servers (started on first use) and the clients of the benches."""

    def __init__(self, path, build, rundir, logdir, env, spin_us, log, pair="ab", port_base=17100,
                 conf=None, dedicate=False):
        self.path, self.build, self.logdir, self.env, self.log = path, build, logdir, env, log
        runtime, ucx = WORKER_VARIANTS[conf] if conf else (None, "")
        self.client_node = Node(f"pol-{path.name}-{pair[0]}", path, path.client, build, rundir,
                                logdir, spin_us, PLUGINS, dedicate=dedicate, runtime=runtime,
                                ucx=ucx)
        self.server_node = Node(f"pol-{path.name}-{pair[1]}", path, path.server, build, rundir,
                                logdir, spin_us, PLUGINS, dedicate=dedicate, runtime=runtime,
                                ucx=ucx)
        self.dedicate = dedicate
        self.servers = {}
        self.runs = 0
        self.port_base = port_base
        self.spare = (rundir, spin_us)
        self.apart = None
        self.server_rules = False

    def other_pair(self):
        """A second pair of services on the same two sides (started on first use): what bulk
        traffic costs the latency app when the two share only the CPUs and the link."""
        if not self.apart:
            rundir, spin_us = self.spare
            self.apart = PolicySetup(self.path, self.build, rundir, self.logdir, self.env,
                                     spin_us, self.log, "cd", self.port_base + 50,
                                     dedicate=self.dedicate)
            self.apart.start()
        return self.apart

    def start(self):
        self.client_node.start(self.env)
        self.server_node.start(self.env)

    def stop(self):
        if self.apart:
            self.apart.stop()
        for proc, _ in self.servers.values():
            proc.stop()
        self.client_node.stop()
        self.server_node.stop()

    def policyctl(self, node, *args):
        argv = [self.build.path("policyctl")] + list(args) + ["--prefix", node.dir]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=CTL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise procs.ProcError(f"policyctl {' '.join(args)}: no answer in {CTL_TIMEOUT_S} s")
        if out.returncode != 0:
            raise procs.ProcError(f"policyctl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def attach(self, node, policy, pid, *settings):
        args = ["attach", policy, "--pid", str(pid)]
        for s in settings:
            args += ["--set", s]
        self.policyctl(node, *args)

    def stats(self, node, engine, pid):
        """ENGINE's stats on PID as `policyctl list --json` shows them."""
        for a in json.loads(self.policyctl(node, "list", "--json")).get("attached", []):
            if a.get("pid") == pid and a.get("engine") == engine:
                return a.get("stats", a)
        raise procs.ProcError(f"no {engine} attached to pid {pid}")

    def qos_server_rules(self, bulk_cls):
        """The rules that give the QoS variants' two servers their class at registration."""
        if not self.server_rules:
            lat_job, bulk_job = QOS_JOBS
            self.rule(self.server_node, lat_job, "qos", "class=latency")
            self.rule(self.server_node, bulk_job, "qos", *bulk_cls)
            self.server_rules = True

    def rule(self, node, job, policy, *settings):
        """A standing rule on NODE: POLICY for every app of Slurm job JOB that registers."""
        args = ["attach", policy, "--job", str(job)]
        for s in settings:
            args += ["--set", s]
        self.policyctl(node, *args)

    def server(self, name, policy=None, settings=(), job=None):
        """The rpc_bench server NAME (started now the first time, with POLICY attached; with
        SLURM_JOB_ID=JOB in its environment when JOB is given): its port."""
        if name not in self.servers:
            port = self.port_base + len(self.servers) if self.path.over_netns else free_port()
            argv = self.path.server.wrap([self.build.path("rpc_bench"), "--server", "-p",
                                          str(port)])
            env = self.server_node.env(self.env)
            if job:
                env["SLURM_JOB_ID"] = str(job)
            proc = procs.Proc(f"pol-{name}-server", argv, env, self.logdir)
            proc.wait_for(r"rpc_bench: serving on", START_TIMEOUT_S)
            if policy:
                self.attach(self.server_node, policy, proc.pid, *settings)
            self.servers[name] = (proc, port)
        return self.servers[name][1]

    def client(self, tag, port, args, job=None):
        """An rpc_bench client of the server on PORT, held once connected (of Slurm job JOB
        when given: SLURM_JOB_ID in its environment)."""
        self.runs += 1
        argv = [self.build.path("rpc_bench"), "-c", self.path.server.addr, "-p", str(port),
                "--hold", "--json"] + args
        env = self.client_node.env(self.env)
        if job:
            env["SLURM_JOB_ID"] = str(job)
        proc = procs.Proc(f"pol-{tag}-{self.runs}", self.path.client.wrap(argv), env,
                          self.logdir, stdin_pipe=True)
        proc.wait_for(r"rpc_bench: ready", 30)
        return proc

    @staticmethod
    def go(proc):
        proc.send_line("go")

    def transport(self, node, pid):
        """The UCX engine's stats of PID's subscription on NODE (where its messages waited)."""
        return node.ctl("engine", str(node.engine_id(pid, "UcxRpcAdapterEngine")), "stats")

    @staticmethod
    def finish(proc, timeout, before_end=None):
        """Waits for PROC's end; its result line. BEFORE_END() runs once it is done measuring,
        while its connections are still up."""
        try:
            proc.wait_for(r"rpc_bench: done", timeout)
            if before_end:
                before_end()
            proc.send_line("end")
            rc = proc.wait(CTL_TIMEOUT_S)
            if rc != 0:
                raise procs.ProcError(f"rpc_bench exited {rc}: {proc.why()}")
            lines = [json.loads(line) for line in proc.output().splitlines()
                     if line.startswith("{")]
            results = [j for j in lines if j.get("type") == "result"]
            if not results:
                raise procs.ProcError(f"{proc.name} printed no result")
            return results[-1]
        finally:
            proc.stop()


def run_client(setup, tag, port, args, seconds, attach=None):
    """One held client: ATTACH(pid) while it waits, then its result."""
    proc = setup.client(tag, port, args)
    if attach:
        attach(proc.pid)
    setup.go(proc)
    return setup.finish(proc, seconds * 1.3 + 30)


# ---- the four benchmarks ------------------------------------------------------------------------

def latency_args(seconds, size=64, window=1, reply=None, warmup=100):
    args = ["-r", str(size), "--concurrency", str(window), "-t", "10000000", "-w", str(warmup),
            "-D", f"{seconds:g}"]
    return args + (["--reply-size", str(reply)] if reply is not None else [])


def bench_null(setup, reps, seconds, rng):
    plain, null = setup.server("plain"), setup.server("null", "null")
    runs = {"plain": [], "null": []}
    for rep in range(reps):
        order = ["plain", "null"]
        rng.shuffle(order)
        for variant in order:
            attach = (lambda pid: setup.attach(setup.client_node, "null", pid)) \
                if variant == "null" else None
            j = run_client(setup, f"null-{variant}", null if variant == "null" else plain,
                           latency_args(seconds), seconds, attach)
            runs[variant].append({"p50_us": j["rtt_p50_us"], "p99_us": j["rtt_p99_us"]})
            setup.log(f"policies: null rep {rep + 1}: {variant} p50 {j['rtt_p50_us']:.1f} us")
    pct = [100 * (n["p50_us"] / p["p50_us"] - 1) for p, n in zip(runs["plain"], runs["null"])]
    return {"p6_null_overhead_pct": median(pct), "per_rep_pct": pct, "runs": runs,
            "p50_us_plain": median(r["p50_us"] for r in runs["plain"]),
            "p50_us_null": median(r["p50_us"] for r in runs["null"])}


def bench_ratelimit(setup, reps, seconds, rng, window=RL_WINDOW, rates=(1000, 50000)):
    """Each rate through RateLimitEngine, and the same client without it (what the machine
    gives: a rate it cannot reach says nothing about the limiter, so its error is left null)."""
    port = setup.server("ratelimit")
    variants = [str(r) for r in rates] + ["unlimited"]
    runs = {v: [] for v in variants}
    for rep in range(reps):
        order = list(variants)
        rng.shuffle(order)
        for v in order:
            def attach(pid, rate=v):
                setup.attach(setup.client_node, "ratelimit", pid, f"requests_per_sec={rate}")
            warmup = max(100, int(RL_WARMUP_S * (max(rates) if v == "unlimited" else int(v))))
            j = run_client(setup, f"ratelimit-{v}", port,
                           latency_args(seconds, window=window, warmup=warmup),
                           seconds, None if v == "unlimited" else attach)
            r = {"achieved": j["rpc_per_s"]}
            if v != "unlimited":
                r["error_pct"] = 100 * abs(j["rpc_per_s"] - int(v)) / int(v)
            runs[v].append(r)
            setup.log(f"policies: ratelimit rep {rep + 1}: {v} -> {j['rpc_per_s']:.1f}/s")
    capacity = median(x["achieved"] for x in runs["unlimited"])
    errors, unreachable = {}, []
    for r in rates:
        if capacity is not None and capacity < 1.1 * r:
            errors[str(r)] = None
            unreachable.append(r)
        else:
            errors[str(r)] = median(x["error_pct"] for x in runs[str(r)])
    measured = [e for e in errors.values() if e is not None]
    out = {"p6_ratelimit_error_pct": max(measured) if measured else None,
           "error_pct_by_rate": errors, "achieved_by_rate": {
               k: median(x["achieved"] for x in v) for k, v in runs.items()},
           "capacity_rps": capacity, "seconds": seconds, "window": window, "runs": runs}
    if unreachable:
        out["note"] = (f"{', '.join(map(str, unreachable))} req/s not measured: the client "
                       f"reaches only {capacity:.0f} calls/s without the policy here")
    return out


def qos_pair(setup, seconds, with_bulk, with_latency, qos, apart=False, bulk_set=()):
    """One QoS variant; (latency result or None, bulk result or None). APART: the bulk app
    goes through the other pair of services; BULK_SET: the bulk app's QosEngine settings
    besides its class (compare --qos-set). With QOS the two apps get QosEngine as an
    administrator gives it (docs/policies.md, "Standing rules"): each app is of a Slurm job
    (SLURM_JOB_ID) and a rule per job attaches the policy when it registers, before it
    connects, on both services: the client apps' rules live for the variant, the servers (of
    the QoS variants only, their own two) have theirs from their start."""
    bulk_setup = setup.other_pair() if apart else setup
    lat_job = bulk_job = None
    bulk_cls = ["class=bulk"] + list(bulk_set)
    if qos:
        lat_job, bulk_job = QOS_JOBS
        setup.qos_server_rules(bulk_cls)
        setup.rule(setup.client_node, lat_job, "qos", "class=latency")
        setup.rule(setup.client_node, bulk_job, "qos", *bulk_cls)
    lat_port = setup.server("qos-latency-q" if qos else "qos-latency", job=lat_job)
    bulk_port = bulk_setup.server("qos-bulk-q" if qos else "qos-bulk", job=bulk_job)
    bulk = lat = None
    try:
        if with_bulk:
            bulk = bulk_setup.client("qos-bulk", bulk_port,
                                     ["-r", str(BULK_SIZE), "--reply-size", "8", "--concurrency",
                                      "8", "-t", "10000000", "-w", "8", "-D",
                                      f"{seconds * 1.5:g}"], job=bulk_job)
        if with_latency:
            lat = setup.client("qos-latency", lat_port, latency_args(seconds), job=lat_job)
        if bulk:
            setup.go(bulk)
            if lat:
                time.sleep(seconds * 1.5 / 5)       # the bulk app's warmup
        if lat:
            setup.go(lat)
        stats, lat_qos = {}, {}
        where = WaitProbe(setup, lat, lat_port, bulk, bulk_port,
                          "qos-latency-q" if qos else "qos-latency")

        def latency_done():
            where.latency_done()
            if qos:     # what the latency app's sends found ahead of them (bulk on the wire)
                lat_qos.update(setup.stats(setup.client_node, "QosEngine", lat.pid))
        lat_j = setup.finish(lat, seconds * 1.3 + 30, latency_done) if lat else None
        if qos:
            stats = dict(setup.stats(setup.client_node, "QosEngine", bulk.pid),
                         latency_ahead_max_bytes=lat_qos.get("ahead_max_bytes"),
                         latency_ahead_mean_bytes=lat_qos.get("ahead_mean_bytes"))
        bulk_j = bulk_setup.finish(bulk, seconds * 2 + 30) if bulk else None
    finally:
        if qos:
            for job in QOS_JOBS:
                setup.policyctl(setup.client_node, "detach", "--job", str(job))
    return lat_j, bulk_j, dict(stats, where=where.figures())


WAIT_KEYS = ("up_waits", "up_wait_mean_us", "up_wait_max_us", "wp_calls", "wp_long",
             "wp_max_us", "worker", "worker_own", "worker_engines")


class WaitProbe:
    """Where the latency app's messages waited: its UCX engine's stats on the client service
    (replies landing) and the server service (requests landing), read when it is done. How long
    a message that had landed waited for its engine's progress (up_wait: the runtime thread busy
    with other engines), and how long single ucp_worker_progress() calls took (wp: one call
    moves what the sockets hold). The server-side engine lives across variants: its counts are
    differences from the variant's start, its maximum is since the server started."""

    def __init__(self, setup, lat, lat_port, bulk, bulk_port, server="qos-latency"):
        self.setup, self.lat, self.bulk, self.out = setup, lat, bulk, {}
        self.server_pid = setup.servers[server][0].pid
        self.server_before = self._read(setup.server_node, self.server_pid) if lat else {}

    def _read(self, node, pid):
        try:
            st = self.setup.transport(node, pid)
        except procs.ProcError as e:
            return {"error": str(e)}
        return {k: st.get(k) for k in WAIT_KEYS}

    def latency_done(self):
        self.out["latency_client_service"] = self._read(self.setup.client_node, self.lat.pid)
        now = self._read(self.setup.server_node, self.server_pid)
        before = self.server_before
        if "error" not in now and "error" not in before:
            n = (now["up_waits"] or 0) - (before["up_waits"] or 0)
            tot = (now["up_wait_mean_us"] or 0) * (now["up_waits"] or 0) - \
                (before["up_wait_mean_us"] or 0) * (before["up_waits"] or 0)
            now = dict(now, up_waits=n, up_wait_mean_us=tot / n if n else 0,
                       wp_calls=(now["wp_calls"] or 0) - (before["wp_calls"] or 0),
                       wp_long=(now["wp_long"] or 0) - (before["wp_long"] or 0))
        self.out["latency_server_service"] = now
        if self.bulk:   # which worker the bulk app is on, beside the latency app's
            self.out["bulk_client_worker"] = self._read(self.setup.client_node,
                                                        self.bulk.pid).get("worker")
        self.out["busy_ms"] = self._busy()

    def _busy(self):
        """Time each engine of the two apps spent in progress() calls that did work, in ms, on
        the client service (the server-side engines live across variants: not shown)."""
        out = {}
        for app, proc in (("latency", self.lat), ("bulk", self.bulk)):
            if not proc:
                continue
            try:
                sub = self.setup.client_node.subscription(proc.pid)
            except procs.ProcError:
                continue
            for e in sub.get("engines", []):
                out[f"{app}:{e['type']}"] = round(e.get("busy_ns", 0) / 1e6, 1)
        return out

    def figures(self):
        return self.out


QOS_VARIANTS = ("alone", "bulk_alone", "with_bulk", "with_bulk_qos", "with_bulk_apart")
QOS_GOAL_VARIANTS = ("alone", "bulk_alone", "with_bulk_qos")   # what the goal compares


def qos_run(setup, v, seconds, bulk_set, log_tag):
    """One run of variant V on SETUP: its figures."""
    lat, bulk, stats = qos_pair(setup, seconds, v != "alone", v != "bulk_alone",
                                v == "with_bulk_qos", v == "with_bulk_apart", bulk_set)
    r = {}
    if lat:
        r.update(p50_us=lat["rtt_p50_us"], p99_us=lat["rtt_p99_us"])
    if bulk:
        r.update(bulk_mbps=bulk["mbps"])
    if stats.get("paced") is not None:
        r.update({k: stats.get(k) for k in QOS_STATS})
    if stats.get("where"):
        r.update(where=stats["where"])
    setup.log(f"policies: qos {log_tag}: {v}: {r}")
    return r


def bench_qos(setup, reps, seconds, rng, bulk_set=()):
    variants = QOS_VARIANTS
    runs = {v: [] for v in variants}
    for rep in range(reps):
        order = list(variants)
        rng.shuffle(order)
        for v in order:
            runs[v].append(qos_run(setup, v, seconds, bulk_set, f"rep {rep + 1}"))
    return qos_figures(runs, variants, bulk_set)


def bench_qos_workers(setups, reps, seconds, rng, bulk_set=()):
    """compare --qos-workers: the goal's three variants on each pair of services in SETUPS
    ({name: PolicySetup}, each run its own way: WORKER_VARIANTS), every (setup, variant) of a
    repetition in one shuffled order, so that the ways of running see the same load."""
    runs = {name: {v: [] for v in QOS_GOAL_VARIANTS} for name in setups}
    for rep in range(reps):
        order = [(name, v) for name in setups for v in QOS_GOAL_VARIANTS]
        rng.shuffle(order)
        for name, v in order:
            runs[name][v].append(qos_run(setups[name], v, seconds, bulk_set,
                                         f"{name} rep {rep + 1}"))
    return {"workers": {name: qos_figures(runs[name], QOS_GOAL_VARIANTS, bulk_set)
                        for name in setups}}


def qos_figures(runs, variants, bulk_set):
    """The medians, the goal on them and per repetition, from RUNS ({variant: [figures]})."""
    fig = {v: {k: median(r.get(k) for r in runs[v]) for k in ("p50_us", "p99_us", "bulk_mbps")}
           for v in variants}
    for v in ("with_bulk", "with_bulk_apart"):    # not run with --qos-workers
        fig.setdefault(v, {"p50_us": None, "p99_us": None, "bulk_mbps": None})
    alone_p99, qos_p99 = fig["alone"]["p99_us"], fig["with_bulk_qos"]["p99_us"]
    bulk_alone, bulk_qos = fig["bulk_alone"]["bulk_mbps"], fig["with_bulk_qos"]["bulk_mbps"]
    out = {"latency_alone": fig["alone"], "latency_with_bulk": fig["with_bulk"],
           "latency_with_bulk_apart": fig["with_bulk_apart"],
           "latency_with_bulk_qos": fig["with_bulk_qos"], "bulk_alone_mbps": bulk_alone,
           "bulk_with_latency_mbps": fig["with_bulk"]["bulk_mbps"], "bulk_with_qos_mbps": bulk_qos,
           "bulk_settings": ["class=bulk"] + list(bulk_set), "runs": runs}
    if alone_p99 and qos_p99 and bulk_alone and bulk_qos:
        out["p99_qos_over_alone"] = qos_p99 / alone_p99
        out["bulk_qos_share"] = bulk_qos / bulk_alone
        out["goal_met"] = qos_p99 <= 2 * alone_p99 and bulk_qos >= 0.7 * bulk_alone
    out["per_rep"] = qos_per_rep(runs)
    out["goal_met_reps"] = sum(1 for r in out["per_rep"] if r.get("goal_met"))
    return out


QOS_STATS = ("paced", "large", "large_peak", "wire_peak", "rate_mb_s", "slice_bytes",
             "latency_ahead_max_bytes", "latency_ahead_mean_bytes")


def qos_per_rep(runs):
    """The goal per repetition: each repetition's p99 with QoS over its p99 alone and its bulk
    goodput with QoS over its bulk goodput alone (the variants of one repetition ran back to
    back, so they saw the same load)."""
    out = []
    for alone, bulk, qos in zip(runs["alone"], runs["bulk_alone"], runs["with_bulk_qos"]):
        r = {"p99_alone_us": alone.get("p99_us"), "p99_qos_us": qos.get("p99_us"),
             "bulk_alone_mbps": bulk.get("bulk_mbps"), "bulk_qos_mbps": qos.get("bulk_mbps")}
        if r["p99_alone_us"] and r["p99_qos_us"] and r["bulk_alone_mbps"] and r["bulk_qos_mbps"]:
            r["p99_ratio"] = r["p99_qos_us"] / r["p99_alone_us"]
            r["bulk_share"] = r["bulk_qos_mbps"] / r["bulk_alone_mbps"]
            r["goal_met"] = r["p99_ratio"] <= 2 and r["bulk_share"] >= 0.7
        out.append(r)
    return out


def bench_admission(setup, reps, seconds, rng):
    port = setup.server("admission")
    variants = ("at_cap", "overload")
    runs = {v: [] for v in variants}
    for rep in range(reps):
        order = list(variants)
        rng.shuffle(order)
        for v in order:
            window = ADMISSION_CAP if v == "at_cap" else 2 * ADMISSION_CAP
            attach = (lambda pid: setup.attach(setup.client_node, "admission", pid,
                                               f"max_outstanding={ADMISSION_CAP}")) \
                if v == "overload" else None
            j = run_client(setup, f"admission-{v}", port,
                           latency_args(seconds, window=window) + ["--refusals-ok"], seconds,
                           attach)
            r = {"p50_us": j["rtt_p50_us"], "p99_us": j["rtt_p99_us"], "admitted": j["iters"],
                 "refused": j.get("failed_calls", 0), "rpc_per_s": j["rpc_per_s"]}
            runs[v].append(r)
            setup.log(f"policies: admission rep {rep + 1}: {v}: {r}")
    fig = {v: {k: median(r[k] for r in runs[v]) for k in ("p50_us", "p99_us", "rpc_per_s")}
           for v in variants}
    out = {"cap": ADMISSION_CAP, "at_cap": fig["at_cap"], "overload_2x": fig["overload"],
           "runs": runs}
    if fig["at_cap"]["p99_us"] and fig["overload"]["p99_us"]:
        out["p99_overload_over_at_cap"] = fig["overload"]["p99_us"] / fig["at_cap"]["p99_us"]
    return out


def run(path, build, rundir, logdir, env, spin_us, args, log):
    """Every benchmark in ARGS.policy_benches on PATH; {bench: figures} (a failed one:
    {"error": why})."""
    setup = PolicySetup(path, build, rundir, logdir, env, spin_us, log,
                        dedicate=args.dedicate)
    workers = {name: PolicySetup(path, build, rundir, logdir, env, spin_us, log,
                                 (f"{name}a", f"{name}b"), 17300 + 100 * i, name)
               for i, name in enumerate(args.qos_workers or ())}
    rng = random.Random(f"{args.seed}-policies")
    out = {"path": path.name, "note": path.note, "reps": args.reps,
           "load_before": os.getloadavg()}
    quick = args.quick
    benches = {
        "null": lambda: bench_null(setup, args.reps, 0.5 if quick else 2.0, rng),
        "ratelimit": lambda: bench_ratelimit(setup, args.reps, 1.0 if quick else args.rl_seconds,
                                             rng, args.rl_window),
        "qos": lambda: bench_qos_workers(workers, args.reps, 1.0 if quick else 4.0, rng,
                                         args.qos_set) if workers else
        bench_qos(setup, args.reps, 1.0 if quick else 4.0, rng, args.qos_set),
        "admission": lambda: bench_admission(setup, args.reps, 0.5 if quick else 2.0, rng),
    }
    try:
        setup.start()
        for w in workers.values():
            w.start()
        for name in args.policy_benches:
            try:
                out[name] = benches[name]()
            except (procs.ProcError, OSError, KeyError, ValueError) as e:
                log(f"policies: {name} FAILED: {e}")
                out[name] = {"error": str(e)}
    except (procs.ProcError, OSError) as e:
        out["error"] = f"services did not start: {e}"
    finally:
        for w in workers.values():
            w.stop()
        setup.stop()
    out["load_after"] = os.getloadavg()
    out["cpus"] = os.cpu_count()
    return out
