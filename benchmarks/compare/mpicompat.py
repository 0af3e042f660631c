"""mpicompat.py - mpi-compat (libmrpc_mpi) as a contender beside Open MPI and MPICH: the same
mpi_pingpong source (benchmarks/mpi_pingpong.c, built against libmrpc_mpi as
mpi_pingpong_mpicompat) and the same collective benchmark (mpi-compat/bench/mpib_coll), run as
jobs of mrpc-run whose ranks are apps of the path's phoenixd.

  two-node  one phoenixd per namespace (pinned like the mRPC ones, services.Node); mrpc-run runs
            in the client's namespace and starts every rank through a small launcher that puts
            the first half of the ranks on the client side and the second half on the server
            side (`ip netns exec`, `taskset`), each with its side's PHOENIX_PREFIX and MRPC_HOST,
            so every message between the halves crosses the veth through both services.
  one-node  one phoenixd in the private namespace (UCX over shared memory), every rank its app.

The services are started when the path is prepared and stopped when it is done (finish), as
the mRPC ones are: a job's ranks are new apps of services that are already connected.
Rows are those of the MPI baselines (systems.baseline_rows); the CPU per message counts the
ranks only, not the phoenixd that carries their messages (a note says so).
"""

import atexit
import os
import shutil
import tempfile

import procs
from services import Node
from systems import (EXIT_GRACE_S, System, baseline_args, baseline_rows, coll_args, coll_rows,
                     json_lines)

LAUNCHER = """#!/bin/sh
# Starts mrpc-run's rank $MRPC_RANK on its side of the two-node path (written by mpicompat.py).
if [ "$MRPC_RANK" -lt {half} ]; then
  export PHOENIX_PREFIX={a_prefix} MRPC_HOST={a_addr}
  exec {a_wrap} "$@"
fi
export PHOENIX_PREFIX={b_prefix} MRPC_HOST={b_addr}
exec {b_wrap} "$@"
"""


class MpiCompatSystem(System):
    name, label = "mpicompat", "mpi-compat (mrpc-run)"
    needs = ["mpi_pingpong_mpicompat", "mpib_coll_mpicompat", "mrpc_run", "phoenixd",
             "plugin_mrpc", "plugin_ucx"]
    patterns = ("latency", "bandwidth", "rate", "coll")

    def __init__(self, build, env, logdir, spin_us):
        super().__init__(build, env, logdir)
        self.spin_us = spin_us
        self.rundir = None
        self.nodes = {}     # path name -> its services (Node), from prepare to finish

    def _dir(self):
        if self.rundir is None:   # short: the services' unix sockets live there
            self.rundir = tempfile.mkdtemp(prefix="phxmpic.", dir="/tmp")
            atexit.register(shutil.rmtree, self.rundir, True)
        return self.rundir

    def prepare(self, path, setup):
        self.notes[path.name] = ("mpi-compat's CPU per message counts its ranks only, not the "
                                 "phoenixd that carries their messages")
        self.nodes[path.name] = self._nodes(path)
        for node in self.nodes[path.name]:
            node.start(self.env)

    def finish(self, path):
        for node in self.nodes.pop(path.name, []):
            node.stop()

    def transport(self, path):
        return "phoenixd ucx sm" if path.shm else f"phoenixd ucx tcp/{path.client.dev}"

    def _nodes(self, path):
        a = Node(f"{path.name}-mpic-a", path, path.client, self.build, self._dir(), self.logdir,
                 self.spin_us, plugins=("mrpc", "ucx"))
        if not path.split:
            return [a]
        return [a, Node(f"{path.name}-mpic-b", path, path.server, self.build, self._dir(),
                        self.logdir, self.spin_us, plugins=("mrpc", "ucx"))]

    def _launcher(self, path, nodes, np):
        """The per-rank launcher of the two-node path; None on one node."""
        if len(nodes) == 1:
            return None
        script = os.path.join(self._dir(), f"launch-{path.name}-{np}.sh")
        a, b = nodes
        with open(script, "w") as f:
            f.write(LAUNCHER.format(half=np // 2, a_prefix=a.dir, a_addr=path.client.addr,
                                    a_wrap=" ".join(path.client.wrap([])),
                                    b_prefix=b.dir, b_addr=path.server.addr,
                                    b_wrap=" ".join(path.server.wrap([]))))
        os.chmod(script, 0o755)
        return script

    def _job(self, path, tag, prog_key, args, np, nresults, timeout):
        """Runs PROG_KEY ARGS as a job of NP ranks; the finished Proc."""
        nodes = self.nodes[path.name]
        launcher = self._launcher(path, nodes, np)
        argv = [self.build.path("mrpc_run"), "-n", str(np), "--service", "system",
                "-S", nodes[0].dir, "--timeout", str(int(timeout)), "--"]
        argv += ([launcher] if launcher else []) + [self.build.path(prog_key)] + args
        proc = procs.run_until_done(tag, path.client.wrap(argv), nodes[0].env(self.env),
                                    self.logdir, timeout + 10,
                                    lambda out: len(nresults(out)) >= 1, EXIT_GRACE_S)
        if proc.rc != 0:
            raise procs.ProcError(f"mrpc-run exited {proc.rc}: {proc.why()}")
        return proc

    def run(self, path, pattern, sizes, budget, tag):
        return self._wire(path, lambda: self._run(path, pattern, sizes, budget, tag))

    def _run(self, path, pattern, sizes, budget, tag):
        timeout = budget.timeout(len(sizes))
        if pattern == "coll":
            rows = []
            for coll in ("allreduce", "bcast"):
                proc = self._job(path, f"{tag}-{coll}", "mpib_coll_mpicompat",
                                 coll_args(coll, sizes, budget), 4,
                                 lambda out: [1] if "# ok: " in out else [], timeout)
                rows += coll_rows(coll, proc.output())
            return rows, self.transport(path)
        args = baseline_args(pattern, sizes, budget, rate_mode=False)
        proc = self._job(path, tag, "mpi_pingpong_mpicompat", args, 2,
                         lambda out: json_lines(out)[len(sizes) - 1:], timeout)
        return baseline_rows(pattern, proc.output()), self.transport(path)
