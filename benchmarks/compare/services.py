"""services.py - the mRPC side of a path: phoenixd per node, the rpc_bench servers, phoenixctl.

A Node is one phoenixd with the mrpc, ucx and null plugins of the build, on a private prefix,
started (in its side's namespace) with UCX pinned to the path's wire through the environment,
which wins over phoenix.conf. The generated phoenix.conf spells out the runtime settings the
figures depend on; they are the shipped defaults (deploy/phoenix.conf) unless the runner's
--spin-us changes how long a runtime thread polls before it sleeps; --dedicate (compare) gives
each app its own spinning runtime thread (runtime.mode = "dedicate", DEDICATE_THREADS of them).

An MrpcSetup is what a path needs for the two mRPC systems: the two-node path has one node per
side, the one-node path one node for both apps. It runs two rpc_bench servers on the server
side, a plain one and one whose subscription gets NullEngine attached (phoenixctl attach), so
that the "mrpc" and "mrpc_null" systems never share a server. The client of each run attaches
the same way (the runner does it while the client holds, see systems.py).
"""

import json
import os
import random
import socket
import subprocess
import time

import procs

START_TIMEOUT_S = 20
CTL_TIMEOUT_S = 15
SHIPPED_SPIN_US = 50   # deploy/phoenix.conf's runtime.spin_us
DEDICATE_THREADS = 8   # runtime threads with --dedicate: one per app group a node hosts

NULL_ATTACH = """# Attach NullEngine between MrpcEngine and the transport, both directions.
addon_engine = "NullEngine";
op = "attach";
tx_channels_replacements = ( ("MrpcEngine", "NullEngine", 0, 0),
                             ("NullEngine", "UcxRpcAdapterEngine", 0, 0) );
rx_channels_replacements = ( ("UcxRpcAdapterEngine", "NullEngine", 0, 0),
                             ("NullEngine", "MrpcEngine", 0, 0) );
group = [ "MrpcEngine", "UcxRpcAdapterEngine" ];
"""


def free_port(count=1):
    """A TCP port P free on this namespace's loopback, with P+1 .. P+COUNT-1 free too (an
    rpc_bench server binds one port per thread), drawn below the kernel's ephemeral range: every
    connect() and port-0 bind beside us (phoenixd's, UCX's, another test's) takes its port from
    that range, so a port found free there can be taken before our server binds it (as
    tests/lib/ports.sh explains). Bounded: 200 draws."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    base = 10000 if low > 11000 else 1024
    for _ in range(200):
        port = random.randrange(base, low - count)
        held = []
        try:
            for i in range(count):
                s = socket.socket()
                held.append(s)
                s.bind(("127.0.0.1", port + i))
            return port
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports below {low} in 200 draws")


class Node:
    """One phoenixd on SIDE of PATH, its files in RUNDIR/NAME."""

    def __init__(self, name, path, side, build, rundir, logdir, spin_us,
                 plugins=("mrpc", "ucx", "null"), dedicate=False, same_node=True,
                 runtime=None, ucx=""):
        self.name, self.path, self.side, self.build = name, path, side, build
        self.plugins = plugins
        self.spin_us = spin_us
        self.dedicate = dedicate
        self.same_node = same_node  # settings.ucx.same_node (docs/transport.md)
        self.runtime = runtime      # the runtime section's settings besides spin_us, if given
        self.ucx = ucx              # more settings.ucx, e.g. 'worker = "app";'
        self.dir = os.path.join(rundir, name)
        self.logdir = logdir
        self.log = os.path.join(logdir, f"phoenixd-{name}.log")
        self.proc = None
        os.makedirs(self.dir, exist_ok=True)

    @property
    def pid(self):
        return self.proc.pid

    def env(self, base):
        env = dict(base, PHOENIX_PREFIX=self.dir)
        env.update(self.path.ucx_env(self.side))
        return env

    def _config(self):
        ucx = self.path.ucx_env(self.side)
        plugins = ",\n  ".join(
            f'{{ name = "{n}"; path = "{self.build.path("plugin_" + n)}"; }}'
            for n in self.plugins)
        return (f'prefix = "{self.dir}";\n'
                f'log = {{ level = "info"; file = "{self.log}"; }};\n'
                f'runtime = {{ {self._runtime()} spin_us = {self.spin_us}; }};\n'
                'control = { admin_group = ""; socket_mode = 0666; max_apps = 64; };\n'
                # the build tree's plugins, wherever it was cloned (under /tmp too)
                f'plugin_trusted_dirs = "{self.build.dir}";\n'
                f'settings = {{ ucx = {{ tls = "{ucx["UCX_TLS"]}"; '
                f'net_devices = "{ucx["UCX_NET_DEVICES"]}"; auth = "none"; '
                f'same_node = {"true" if self.same_node else "false"}; {self.ucx} }}; }};\n'
                f"plugins = (\n  {plugins}\n);\n")

    def _runtime(self):
        if self.runtime:
            return self.runtime
        if self.dedicate:
            return f'threads = {DEDICATE_THREADS}; mode = "dedicate";'
        return 'threads = 1; mode = "shared";'

    def start(self, base_env):
        conf = os.path.join(self.dir, "phoenix.conf")
        with open(conf, "w") as f:
            f.write(self._config())
        argv = self.side.wrap([self.build.path("phoenixd"), "-c", conf, "--foreground"])
        self.proc = procs.Proc(f"{self.path.name}-phoenixd-{self.name}", argv,
                               self.env(base_env), self.logdir)
        sock = os.path.join(self.dir, "control.sock")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(sock):
            if not self.proc.running() or time.monotonic() > deadline:
                raise procs.ProcError(f"phoenixd ({self.name}) did not start: {self.proc.why()}")
            time.sleep(procs.POLL_S)

    def stop(self):
        if self.proc:
            self.proc.stop()

    def ctl(self, *args):
        """phoenixctl ARGS --json against this node; its JSON answer."""
        out = self._phoenixctl(list(args) + ["--json"])
        try:
            return json.loads(out) if out.strip() else {}
        except ValueError:
            raise procs.ProcError(f"phoenixctl {' '.join(args)}: not JSON: {out[:200]}")

    def _phoenixctl(self, args):
        argv = [self.build.path("phoenixctl")] + args + ["--prefix", self.dir]
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=CTL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise procs.ProcError(f"phoenixctl {' '.join(args)}: no answer in {CTL_TIMEOUT_S} s")
        if out.returncode != 0:
            raise procs.ProcError(f"phoenixctl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def subscription(self, pid):
        """PID's (first) mrpc subscription in this node's `phoenixctl list`."""
        for sub in self.ctl("list").get("subscriptions", []):
            if sub.get("pid") == pid and sub.get("service") == "mrpc":
                return sub
        raise procs.ProcError(f"no mrpc subscription of pid {pid} in phoenixd {self.name}")

    def engine_id(self, pid, engine_type):
        for engine in self.subscription(pid)["engines"]:
            if engine["type"] == engine_type:
                return engine["id"]
        raise procs.ProcError(f"pid {pid} has no {engine_type} in phoenixd {self.name}")

    def attach_null(self, pid, descriptor):
        """Attaches NullEngine to PID's subscription and checks that it is there."""
        sub = self.subscription(pid)
        self._phoenixctl(["attach", "--pid", str(pid), "--sid", str(sub["sid"]),
                          "--descriptor", descriptor])
        if "NullEngine" not in self.subscription(pid).get("addons", []):
            raise procs.ProcError(f"NullEngine attached to pid {pid} but not listed")

    def lanes(self, pid):
        """The UCX lanes of PID's connections, e.g. "tcp/pcx12a" or "sysv/memory"."""
        answer = self.ctl("engine", str(self.engine_id(pid, "UcxRpcAdapterEngine")), "transports")
        return " ".join(sorted(set(" ".join(answer.values()).split()))) or "?"


class MrpcSetup:
    """Nodes and rpc_bench servers of one path; servers maps system name -> (Proc, port)."""

    def __init__(self, path, build, rundir, logdir, base_env, spin_us=SHIPPED_SPIN_US,
                 dedicate=False, same_node=True):
        self.path, self.build, self.logdir, self.base_env = path, build, logdir, base_env
        self.client_node = Node(f"{path.name}-a", path, path.client, build, rundir, logdir,
                                spin_us, dedicate=dedicate, same_node=same_node)
        self.server_node = self.client_node if path.shm else \
            Node(f"{path.name}-b", path, path.server, build, rundir, logdir, spin_us,
                 dedicate=dedicate, same_node=same_node)
        self.descriptor = os.path.join(rundir, "attach-null.conf")
        with open(self.descriptor, "w") as f:
            f.write(NULL_ATTACH)
        self.servers = {}

    def nodes(self):
        return [self.client_node] if self.client_node is self.server_node else \
            [self.client_node, self.server_node]

    def start(self):
        for node in self.nodes():
            node.start(self.base_env)
        for system in ("mrpc", "mrpc_null"):
            self._start_server(system)

    def _start_server(self, system):
        port = 17000 + len(self.servers) if self.path.over_netns else free_port()
        argv = self.path.server.wrap([self.build.path("rpc_bench"), "--server", "-p", str(port)])
        proc = procs.Proc(f"{self.path.name}-{system}-server", argv,
                          self.server_node.env(self.base_env), self.logdir)
        proc.wait_for(r"rpc_bench: serving on", START_TIMEOUT_S)
        if system == "mrpc_null":
            self.server_node.attach_null(proc.pid, self.descriptor)
        self.servers[system] = (proc, port)

    def stop(self):
        for proc, _ in self.servers.values():
            proc.stop()
        for node in self.nodes():
            node.stop()

    def roles(self, system):
        """PID -> role of the processes whose CPU a call of SYSTEM also burns, besides the
        client: the phoenixd(s) and the server app."""
        roles = {node.pid: role for node, role in self.node_roles()}
        roles[self.servers[system][0].pid] = "server_app"
        return roles

    def node_roles(self):
        """(node, role) of each phoenixd, roles named as in roles()."""
        if self.client_node is self.server_node:
            return [(self.client_node, "phoenixd")]
        return [(self.client_node, "phoenixd_client"), (self.server_node, "phoenixd_server")]

    def engine_ns(self):
        """Nanoseconds each engine type has spent in progress() calls that did work, per node,
        as the runtimes count them (`phoenixctl list`: busy_ns), summed over the node's
        subscriptions: {"phoenixd_client/MrpcEngine": ns, ...}. Idle subscriptions add nothing."""
        total = {}
        for node, role in self.node_roles():
            for sub in node.ctl("list").get("subscriptions", []):
                for engine in sub.get("engines", []):
                    key = f"{role}/{engine['type']}"
                    total[key] = total.get(key, 0) + engine.get("busy_ns", 0)
        return total

    def counters(self, system):
        """What the runner compares before and after a run of SYSTEM: context switches of each
        role's process, and (mrpc_null) the calls the server's NullEngine has forwarded."""
        counts = {role: procs.context_switches(pid) for pid, role in self.roles(system).items()}
        if system == "mrpc_null":
            server = self.servers[system][0].pid
            engine = self.server_node.engine_id(server, "NullEngine")
            counts["null_rx"] = self.server_node.ctl("engine", str(engine), "stats").get("rx")
        return counts
