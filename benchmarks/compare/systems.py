"""systems.py - the five contenders, each run the same three ways on a path.

  ucx        ucx_pingpong: UCP active messages, a listener and a client-server endpoint
  openmpi    mpi_pingpong_openmpi under mpirun.openmpi (pml ob1: tcp BTL, or vader on one node)
  mpich      mpi_pingpong_mpich under mpirun.mpich (ch4:ucx: UCX on tcp, or sm on one node)
  mrpc       rpc_bench through phoenixd: the client's service, the wire, the server's service
  mrpc_null  the same with NullEngine attached to both apps' subscriptions (phoenixctl attach)
  mpicompat  mpi_pingpong_mpicompat (libmrpc_mpi) under mrpc-run, through phoenixd (mpicompat.py)

Patterns (Budget gives the counts):
  latency    ping-pong of one message of SIZE each way; op = one round trip
  bandwidth  SIZE-byte messages, WINDOW in flight (baselines: window then ack; rpc_bench: WINDOW
             calls outstanding with empty replies); op = one message
  rate       32-byte messages, 32 in flight (ucx: sliding window; MPI has only window+ack, so its
             bandwidth mode at 32 B; rpc_bench: 32 calls outstanding, 32-byte replies);
             op = one message (one call for mRPC)
  coll       MPI systems only: MPI_Allreduce and MPI_Bcast latency on COLL_RANKS ranks by size
             (mpi-compat/bench/mpib_coll: mean time per call, averaged over the ranks), half the
             ranks on each side of the path; rows of patterns "allreduce" and "bcast", figure
             coll_us

Every run returns rows in one shape (rtt in us, MB/s = 10^6 B/s, ops/s, CPU us per op of every
process in the data path over the measured phase: both ranks or both ucx_pingpong processes as
the programs measure themselves; for mRPC the client, both phoenixd and the server, read by
rpc_bench through --cpu-pid). Baselines print one-way latency (half a round trip) and CPU per
message; rows hold round trips and CPU per round trip. MPI across the two namespaces is tried
once per path; if it fails, that MPI runs over loopback and every row says so. An mpirun that
has printed every result but does not exit within EXIT_GRACE_S (MPICH sometimes hangs in
MPI_Finalize across the namespaces) is stopped, its results kept, and the summary says so.
"""

import json
import os
import re
import shutil

import procs
from paths import LOOPBACK

RATE_SIZE = 32
RATE_WINDOW = 32
NETNS_PROBE_ARGS = ["-s", "64", "-n", "20", "-w", "2", "-D", "1", "--json"]
RUN_SLACK_S = 60
COLL_RANKS = 4
COLLS = ("allreduce", "bcast")
COLL_SIZES, QUICK_COLL_SIZES = [8, 64, 4096, 65536, 1 << 20], [64, 65536]
EXIT_GRACE_S = 15


class Budget:
    """Counts per pattern; the same for every system so that no one gets a longer run."""

    def __init__(self, quick, seconds=None):
        self.seconds = seconds or (0.3 if quick else 1.0)
        self.lat_iters, self.lat_warmup = (300, 30) if quick else (10000, 1000)
        self.bw_windows, self.bw_warmup = (3, 1) if quick else (100, 10)
        self.window = 16
        self.rate_msgs, self.rate_warmup = (4000, 400) if quick else (1000000, 10000)
        self.coll_iters, self.coll_warmup = (30, 3) if quick else (200, 20)
        self.coll_sizes = QUICK_COLL_SIZES if quick else COLL_SIZES

    def timeout(self, nsizes):
        return nsizes * (self.seconds * 1.2 + 2) + RUN_SLACK_S


def size_arg(sizes):
    return ",".join(str(s) for s in sizes)


def json_lines(text):
    rows = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows


def row(pattern, size, iters, payload, rtt_p50=None, rtt_p99=None, mbps=None, ops=None,
        cpu=None):
    """One size's figures; PAYLOAD = bytes the measured phase moved (both directions)."""
    return {"pattern": pattern, "size": size, "iters": iters, "payload_bytes": payload,
            "rtt_p50_us": rtt_p50, "rtt_p99_us": rtt_p99, "mbps": mbps, "ops_per_s": ops,
            "cpu_us_per_op": cpu}


def baseline_rows(pattern, text):
    """Rows from bench_common JSON lines (ucx_pingpong, mpi_pingpong)."""
    rows = []
    for j in json_lines(text):
        size, iters = j["size"], j["iters"]
        if pattern == "latency":
            rows.append(row(pattern, size, iters, 2 * iters * size, 2 * j["p50_us"],
                            2 * j["p99_us"], ops=1e6 / (2 * j["mean_us"]),
                            cpu=2 * j["cpu_us_per_msg"]))
        else:
            msgs = iters * (j["window"] if j["mode"] == "bandwidth" else 1)
            rows.append(row(pattern, size, iters, msgs * size, mbps=j["mbps"],
                            ops=j["msgs_per_s"], cpu=j["cpu_us_per_msg"]))
    return rows


def coll_args(coll, sizes, b):
    """mpib_coll's options for COLL over SIZES (it runs a tenth of the calls above 8 KiB)."""
    return ["-c", coll, "-s", size_arg(sizes), "-i", str(b.coll_iters), "-x", str(b.coll_warmup)]


def coll_rows(coll, text):
    """Rows from mpib_coll's table: "SIZE AVG MIN MAX" (us) after a '#' header."""
    rows = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[0].isdigit():
            r = row(coll, int(fields[0]), None, 0)
            r.update(coll_us=float(fields[1]), coll_max_us=float(fields[3]))
            rows.append(r)
    return rows


def baseline_args(pattern, sizes, b, rate_mode=True):
    """bench_common options for PATTERN. Without a rate mode (mpi_pingpong) the rate pattern
    is the bandwidth mode at 32 B: windows then acks, so its counts are windows."""
    common = ["--json", "-D", str(b.seconds)]
    if pattern == "latency":
        return common + ["-m", "latency", "-s", size_arg(sizes), "-n", str(b.lat_iters),
                         "-w", str(b.lat_warmup)]
    if pattern == "bandwidth":
        return common + ["-m", "bandwidth", "-s", size_arg(sizes), "-n", str(b.bw_windows),
                         "-w", str(b.bw_warmup), "-W", str(b.window)]
    common += ["-s", str(RATE_SIZE), "-W", str(RATE_WINDOW)]
    if rate_mode:
        return common + ["-m", "rate", "-n", str(b.rate_msgs), "-w", str(b.rate_warmup)]
    return common + ["-m", "bandwidth", "-n", str(max(1, b.rate_msgs // RATE_WINDOW)),
                     "-w", str(max(1, b.rate_warmup // RATE_WINDOW))]


class System:
    name = label = ""
    needs = []
    patterns = ("latency", "bandwidth", "rate")

    def __init__(self, build, env, logdir):
        self.build, self.env, self.logdir = build, env, logdir
        self.notes = {}      # path name -> what differs on that path (e.g. MPI on loopback)

    def skip_reason(self):
        missing = self.build.missing(self.needs)
        return f"not built: {', '.join(missing)}" if missing else None

    def prepare(self, path, setup):
        """Per-path preparation (probes); SETUP is the path's MrpcSetup or None."""

    def finish(self, path):
        """Stops what prepare() started for PATH (always called once PATH is done)."""

    def run(self, path, pattern, sizes, budget, tag):
        """(rows, transport, wire bytes moved) of one run; raises ProcError on failure."""
        raise NotImplementedError

    def _wire(self, path, run):
        before = path.wire_bytes()
        result = run()
        after = path.wire_bytes()
        moved = after - before if before is not None and after is not None else None
        return result + (moved,)


class UcxSystem(System):
    name, label = "ucx", "raw UCX (ucp AM)"
    needs = ["ucx_pingpong"]
    LANE = re.compile(r"\d+:([a-z0-9_]+/[A-Za-z0-9_.-]+?)(?:\.\d+)? md\[")

    def run(self, path, pattern, sizes, budget, tag):
        return self._wire(path, lambda: self._run(path, pattern, sizes, budget, tag))

    def _run(self, path, pattern, sizes, budget, tag):
        binary = self.build.path("ucx_pingpong")
        server = procs.Proc(f"{tag}-server", path.server.wrap(
            [binary, "-l", f"{path.server.addr}:0", "--sizes", size_arg(sizes)]),
            dict(self.env, **path.ucx_env(path.server)), self.logdir)
        try:
            port = server.wait_for(r"listening on \S+:(\d+)", 20).group(1)
            args = baseline_args(pattern, sizes, budget)
            client = procs.run(f"{tag}-client", path.client.wrap(
                [binary, "-c", f"{path.server.addr}:{port}", "-v"] + args),
                dict(self.env, **path.ucx_env(path.client)), self.logdir,
                budget.timeout(len(sizes)))
            if client.rc != 0:
                raise procs.ProcError(f"ucx_pingpong exited {client.rc}: {client.why()}")
            server.wait(10)
        finally:
            server.stop()
        lanes = sorted(set(self.LANE.findall(client.errors())))
        return baseline_rows(pattern, client.output()), " ".join(lanes) or "?"


class MpiSystem(System):
    """One MPI implementation (IMPL: openmpi or mpich)."""

    def __init__(self, impl, build, env, logdir):
        super().__init__(build, env, logdir)
        self.impl = self.name = impl
        self.label = {"openmpi": "Open MPI (ob1)", "mpich": "MPICH (ch4:ucx)"}[impl]
        self.needs = [f"mpi_pingpong_{impl}"]
        self.patterns = System.patterns + ("coll",) if build.exists(f"mpib_coll_{impl}") \
            else System.patterns
        self.mpirun = shutil.which(f"mpirun.{impl}")
        self.across = {}    # path name -> whether the ranks run in the two namespaces
        self.hangs = {}     # path name -> runs that did not exit after their last result

    def skip_reason(self):
        return super().skip_reason() or (None if self.mpirun else f"mpirun.{self.impl} not found")

    def prepare(self, path, setup):
        self.across[path.name] = path.split
        if not path.split:
            return
        try:
            proc = procs.run(f"{path.name}-{self.name}-netns-probe",
                             *self._command(path, NETNS_PROBE_ARGS), self.logdir, 60)
            if proc.rc == 0 and json_lines(proc.output()):
                return
            why = proc.why()
        except procs.ProcError as e:
            why = str(e)
        self.across[path.name] = False
        self.notes[path.name] = (f"{self.label} ran over loopback (lo), not across the "
                                 f"namespaces: the cross-namespace probe failed ({why[:300]})")

    def _command(self, path, args, prog_key=None, np=2):
        """(argv, env) of mpirun with NP ranks (default: both ranks of mpi_pingpong) running
        ARGS on PATH; across the namespaces half of them on each side."""
        prog = self.build.path(prog_key or f"mpi_pingpong_{self.impl}")
        if self.across.get(path.name):
            return (self._openmpi_netns if self.impl == "openmpi" else self._mpich_netns)(
                path, prog, args, np)
        side = LOOPBACK if path.split else path.client
        if self.impl == "openmpi":
            btl = "self,vader" if path.shm else "self,tcp"
            return (side.wrap([self.mpirun] + self._ompi_root(np) + [
                "--mca", "pml", "ob1", "--mca", "btl", btl, "--mca", "btl_tcp_if_include", "lo",
                "--mca", "oob_tcp_if_include", "lo", "-np", str(np), prog] + args), self.env)
        tls = "sm,self" if path.shm else "tcp,self"
        return (side.wrap([self.mpirun, "-launcher", "fork", "-iface", "lo", "-np", str(np),
                           prog] + args), dict(self.env, UCX_TLS=tls, UCX_NET_DEVICES="lo"))

    @staticmethod
    def _ompi_root(np=2):
        """As root Open MPI wants to be told; more ranks than cores it must be allowed."""
        return (["--allow-run-as-root"] if os.geteuid() == 0 else []) + \
            (["--oversubscribe"] if np > 2 else [])

    def _openmpi_netns(self, path, prog, args, np=2):
        """mpirun in the client's namespace, rank 1 through `ip netns exec` in the server's.
        Rank 1 reaches mpirun's PMIx server over the veth only if PMIx listens there."""
        subnet = path.client.addr.rsplit(".", 1)[0] + ".0/24"
        half = str(np // 2)
        argv = path.client.wrap([self.mpirun] + self._ompi_root(np) + [
            "--bind-to", "none",        # each rank stays on its side's CPUs (paths.py)
            "--mca", "pml", "ob1", "--mca", "btl", "self,tcp",
            "--mca", "btl_tcp_if_include", subnet, "--mca", "oob_tcp_if_include", subnet,
            "-np", half, prog] + args + [":", "-np", half] + path.server.wrap([prog] + args))
        env = dict(self.env, PMIX_MCA_ptl_base_remote_connections="1",
                   PMIX_MCA_ptl_base_if_include=path.client.dev)
        return argv, env

    def _mpich_netns(self, path, prog, args, np=2):
        """Hydra forks both ranks here (PMI over inherited sockets), each through `ip netns
        exec` into its namespace, with UCX pinned to its end of the veth."""
        argv = [self.mpirun, "-launcher", "fork", "-iface", "lo"]
        for i, side in enumerate((path.client, path.server)):
            argv += ([":"] if i else []) + ["-np", str(np // 2), "-env", "UCX_TLS", "tcp,self",
                                            "-env", "UCX_NET_DEVICES", side.dev]
            argv += side.wrap([prog] + args)
        return argv, self.env

    def transport(self, path):
        if path.shm:
            return "vader (shm)" if self.impl == "openmpi" else "ucx sm"
        where = "veth" if self.across.get(path.name) else "lo"
        return f"tcp/{where}" if self.impl == "openmpi" else f"ucx tcp/{where}"

    def run(self, path, pattern, sizes, budget, tag):
        wire = path if self.across.get(path.name) or not path.split else path.loopback_twin()
        return self._wire(wire, lambda: self._run(path, pattern, sizes, budget, tag))

    def _run(self, path, pattern, sizes, budget, tag):
        if pattern == "coll":
            return self._coll(path, sizes, budget, tag)
        args = baseline_args(pattern, sizes, budget, rate_mode=False)
        argv, env = self._command(path, args)
        proc = procs.run_until_done(tag, argv, env, self.logdir, budget.timeout(len(sizes)),
                                    lambda out: len(json_lines(out)) >= len(sizes), EXIT_GRACE_S)
        if proc.rc != 0:
            raise procs.ProcError(f"{self.mpirun} exited {proc.rc}: {proc.why()}")
        if proc.hung:
            self.hangs[path.name] = self.hangs.get(path.name, 0) + 1
            self.notes[path.name] = (f"{self.label} printed all its results but did not exit "
                                     f"within {EXIT_GRACE_S} s in {self.hangs[path.name]} run(s) "
                                     f"(stuck at its exit); stopped, results kept")
        return baseline_rows(pattern, proc.output()), self.transport(path)

    def _coll(self, path, sizes, budget, tag):
        """MPI_Allreduce and MPI_Bcast latency on COLL_RANKS ranks (mpib_coll_IMPL)."""
        rows = []
        for coll in COLLS:
            argv, env = self._command(path, coll_args(coll, sizes, budget),
                                      f"mpib_coll_{self.impl}", COLL_RANKS)
            proc = procs.run_until_done(f"{tag}-{coll}", argv, env, self.logdir,
                                        budget.timeout(len(sizes)),
                                        lambda out: "# ok: " in out, EXIT_GRACE_S)
            if proc.rc != 0:
                raise procs.ProcError(f"{self.mpirun} ({coll}) exited {proc.rc}: {proc.why()}")
            rows += coll_rows(coll, proc.output())
        return rows, self.transport(path)


class MrpcSystem(System):
    """rpc_bench through the path's MrpcSetup; NULL attaches NullEngine to both apps."""

    needs = ["rpc_bench", "phoenixd", "phoenixctl", "plugin_mrpc", "plugin_ucx", "plugin_null"]

    def __init__(self, null, build, env, logdir):
        super().__init__(build, env, logdir)
        self.null = null
        self.last_switches = {}
        self.last_engine_ns = {}
        self.name = "mrpc_null" if null else "mrpc"
        self.label = "mRPC + NullEngine" if null else "mRPC (phoenixd)"
        self.setups = {}

    def prepare(self, path, setup):
        self.setups[path.name] = setup

    def _args(self, pattern, sizes, b):
        common = ["--json", "-D", str(b.seconds)]
        if pattern == "latency":
            return common + ["-s", size_arg(sizes), "-t", str(b.lat_iters),
                             "-w", str(b.lat_warmup), "--concurrency", "1"]
        if pattern == "bandwidth":
            return common + ["-s", size_arg(sizes), "-t", str(b.bw_windows * b.window),
                             "-w", str(b.bw_warmup * b.window), "--concurrency", str(b.window),
                             "--reply-size", "0"]
        return common + ["-s", str(RATE_SIZE), "-t", str(b.rate_msgs), "-w", str(b.rate_warmup),
                         "--concurrency", str(RATE_WINDOW), "--reply-size", str(RATE_SIZE)]

    def _argv(self, setup, pattern, sizes, budget, port):
        argv = [self.build.path("rpc_bench"), "-c", setup.path.server.addr, "-p", str(port),
                "--hold"]
        for pid in setup.roles(self.name):
            argv += ["--cpu-pid", str(pid)]
        return argv + self._args(pattern, sizes, budget)

    def run(self, path, pattern, sizes, budget, tag):
        """Starts the client held, reads its lanes, attaches NullEngine (mrpc_null), lets it
        go; records context switches per role in last_switches."""
        setup = self.setups[path.name]
        argv = self._argv(setup, pattern, sizes, budget, setup.servers[self.name][1])
        client = procs.Proc(tag, path.client.wrap(argv), setup.client_node.env(self.env),
                            self.logdir, stdin_pipe=True)
        try:
            client.wait_for(r"rpc_bench: ready", 30)
            lanes = setup.client_node.lanes(client.pid)
            if self.null:
                setup.client_node.attach_null(client.pid, setup.descriptor)
            before, ns_before = setup.counters(self.name), setup.engine_ns()
            ends = {}

            def at_end():       # the client is done but still registered and connected
                ends["counters"], ends["ns"] = setup.counters(self.name), setup.engine_ns()
            results, moved = self._wire(path, lambda: self._go(client, budget, len(sizes),
                                                               at_end))
            after, ns_after = ends["counters"], ends["ns"]
        finally:
            client.stop()
        self._check_null(results, before, after)
        self.last_switches = {k: after[k] - before[k] for k in before
                              if k != "null_rx" and None not in (before[k], after[k])}
        self.last_engine_ns = {k: v - ns_before.get(k, 0) for k, v in ns_after.items()}
        roles = {str(pid): role for pid, role in setup.roles(self.name).items()}
        return [self._row(pattern, j, roles) for j in results], lanes, moved

    def _check_null(self, results, before, after):
        """The server's NullEngine must have forwarded every measured call: else the figures
        are not those of a chain with NullEngine in it."""
        if not self.null:
            return
        measured = sum(j["iters"] for j in results)
        forwarded = (after.get("null_rx") or 0) - (before.get("null_rx") or 0)
        if forwarded < measured:
            raise procs.ProcError(f"the server's NullEngine forwarded {forwarded} calls, "
                                  f"fewer than the {measured} measured")

    @staticmethod
    def _go(client, budget, nsizes, at_end):
        client.send_line("go")
        client.wait_for(r"rpc_bench: done", budget.timeout(nsizes))
        at_end()
        client.send_line("end")
        rc = client.wait(budget.timeout(0))
        if rc != 0:
            raise procs.ProcError(f"rpc_bench exited {rc}: {client.why()}")
        return ([j for j in json_lines(client.output()) if j.get("type") == "result"],)

    @staticmethod
    def _row(pattern, j, roles):
        r = row(pattern, j["size"], j["iters"], j["iters"] * (j["req_size"] + j["reply_size"]),
                ops=j["rpc_per_s"], cpu=j["cpu_us_per_call"])
        if pattern == "latency":
            r.update(rtt_p50_us=j["rtt_p50_us"], rtt_p99_us=j["rtt_p99_us"])
        else:
            r["mbps"] = j["mbps"]
        r["cpu_breakdown"] = {roles.get(pid, pid): v
                              for pid, v in j.get("cpu_us_per_call_pids", {}).items()}
        r["cpu_breakdown"]["client_app"] = j.get("cpu_us_per_call_self")
        return r


def all_systems(build, env, logdir, spin_us=None):
    from mpicompat import MpiCompatSystem   # it builds on this module
    from services import SHIPPED_SPIN_US
    return [UcxSystem(build, env, logdir), MpiSystem("openmpi", build, env, logdir),
            MpiSystem("mpich", build, env, logdir), MrpcSystem(False, build, env, logdir),
            MrpcSystem(True, build, env, logdir),
            MpiCompatSystem(build, env, logdir, spin_us or SHIPPED_SPIN_US)]
