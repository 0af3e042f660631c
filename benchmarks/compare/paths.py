"""paths.py - the two paths every system is measured on, and the wire each one uses.

  two-node  two network namespaces joined by a veth pair, the client side of every run in one,
            the server side in the other, every system on kernel TCP over the veth: what two
            hosts on Ethernet would see, minus the NIC. When the namespaces cannot be made (not
            root, no `ip netns`), both sides run on loopback instead and the path's note says
            so; every table prints that note.
  one-node  both sides in one namespace of their own (with only lo, so that nobody else's
            traffic shows on its counters), over shared memory (UCX sysv/posix, Open MPI's
            vader, one phoenixd for both apps); in the runner's namespace when namespaces
            cannot be made.

A Side knows its namespace, its address, its device and its CPUs, and wraps a command line with
`ip netns exec` when it has a namespace and `taskset -c` when it has CPUs (both exec, keeping the
PID, so CPU clocks and stops by PID see the real program). The two-node sides get a CPU (or a
half of the machine's) each, as two nodes would have cores of their own: every process of a side
(its phoenixd and its app, a raw UCX or MPI rank) runs there, and a service's runtime obeys it. wire_bytes() reads the transmit counters of the path's devices,
so the runner can check afterwards that a two-node run really crossed the veth.
"""

import json
import os
import subprocess
import time

SUBNET = "10.211.0"          # only ever exists inside the runner's own namespaces
CMD_TIMEOUT_S = 10
CARRIER_TIMEOUT_S = 5


class Side:
    def __init__(self, ns, addr, dev, cpus=None):
        self.ns, self.addr, self.dev, self.cpus = ns, addr, dev, cpus

    def wrap(self, argv):
        pinned = ["taskset", "-c", self.cpus] + argv if self.cpus else list(argv)
        return ["ip", "netns", "exec", self.ns] + pinned if self.ns else pinned


def split_cpus():
    """The CPUs we may run on, halved for two nodes: ("0", "1") on two CPUs; (None, None)
    with a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    half = len(cpus) // 2
    return (",".join(map(str, cpus[:half])), ",".join(map(str, cpus[half:])))


LOOPBACK = Side(None, "127.0.0.1", "lo")   # the runner's own namespace


class Path:
    def __init__(self, name, shm, client, server, note=""):
        self.name, self.shm, self.client, self.server, self.note = name, shm, client, server, note

    @property
    def over_netns(self):
        """Whether the path's processes run in namespaces the runner made."""
        return self.client.ns is not None

    @property
    def split(self):
        """Whether client and server sides are in different namespaces (the veth path)."""
        return self.client.ns != self.server.ns

    def loopback_twin(self):
        """The same path with both sides on loopback: where a system that cannot run across
        the namespaces runs instead (its wire check then reads lo)."""
        return Path(self.name, self.shm, LOOPBACK, LOOPBACK, self.note)

    def ucx_env(self, side):
        """UCX pinned to this path's wire for a process on SIDE. Shared memory between
        client-server endpoints with peer error handling needs all three knobs (see
        benchmarks/README.md): mm transports allowed, tcp for the connection manager, and no
        rendezvous lane on tcp."""
        if self.shm:
            return {"UCX_TLS": "sm,tcp", "UCX_NET_DEVICES": "lo", "UCX_MM_ERROR_HANDLING": "y",
                    "UCX_RNDV_SCHEME": "get_zcopy"}
        return {"UCX_TLS": "tcp", "UCX_NET_DEVICES": side.dev}

    def wire_bytes(self):
        """Bytes transmitted so far on the path's devices (each device counted once), or None."""
        total = 0
        for ns, dev in {(s.ns, s.dev) for s in (self.client, self.server)}:
            count = _tx_bytes(ns, dev)
            if count is None:
                return None
            total += count
        return total


def _ip(args):
    return subprocess.run(["ip"] + args, capture_output=True, text=True, timeout=CMD_TIMEOUT_S)


def _link(ns, dev):
    out = _ip((["-n", ns] if ns else []) + ["-j", "-s", "link", "show", "dev", dev])
    return json.loads(out.stdout)[0]


def _operstate(ns, dev):
    try:
        return _link(ns, dev).get("operstate")
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def _tx_bytes(ns, dev):
    try:
        return int(_link(ns, dev)["stats64"]["tx"]["bytes"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return None


class Namespaces:
    """Namespaces a and b joined by a veth pair, and c with only lo, named after our PID;
    delete() removes them."""

    def __init__(self):
        tag = os.getpid()
        self.names = [f"phxcmp{tag}a", f"phxcmp{tag}b"]
        self.private = f"phxcmp{tag}c"
        self.devs = [f"pcx{tag}a", f"pcx{tag}b"]
        self.made = []

    def create(self):
        """Creates them all; raises RuntimeError with ip's message if anything fails."""
        for ns in self.names + [self.private]:
            self._must(["netns", "add", ns])
            self.made.append(ns)
        self._must(["-n", self.private, "link", "set", "lo", "up"])
        a, b = self.names
        self._must(["link", "add", self.devs[0], "netns", a, "type", "veth",
                    "peer", "name", self.devs[1], "netns", b])
        for i, (ns, dev) in enumerate(zip(self.names, self.devs)):
            self._must(["-n", ns, "addr", "add", f"{SUBNET}.{i + 1}/24", "dev", dev])
            self._must(["-n", ns, "link", "set", "lo", "up"])
            self._must(["-n", ns, "link", "set", dev, "up"])
        self._wait_carrier()

    def _wait_carrier(self):
        """Waits until both ends report a carrier: until then UCX does not list the device
        (ucp_init fails with "No such device")."""
        deadline = time.monotonic() + CARRIER_TIMEOUT_S
        while not all(_operstate(ns, dev) == "UP" for ns, dev in zip(self.names, self.devs)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the veth pair has no carrier after {CARRIER_TIMEOUT_S} s")
            time.sleep(0.05)

    def delete(self):
        for ns in reversed(self.made):   # deleting a namespace deletes its end of the veth
            try:
                _ip(["netns", "del", ns])
            except (OSError, subprocess.SubprocessError):
                pass
        self.made = []

    @staticmethod
    def _must(args):
        out = _ip(args)
        if out.returncode != 0:
            raise RuntimeError(f"ip {' '.join(args)}: {out.stderr.strip()}")


def make_paths(use_netns):
    """The two-node and one-node paths, and the Namespaces to delete at the end (or None)."""
    why = None
    if not use_netns:
        why = "--no-netns was given"
    elif os.geteuid() != 0:
        why = "namespaces need root"
    if why is None:
        ns = Namespaces()
        try:
            ns.create()
            a, b = ns.names
            cpus = split_cpus()
            client = Side(a, f"{SUBNET}.1", ns.devs[0], cpus[0])
            server = Side(b, f"{SUBNET}.2", ns.devs[1], cpus[1])
            private = Side(ns.private, "127.0.0.1", "lo")
            return [Path("two-node", False, client, server),
                    Path("one-node", True, private, private)], ns
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            ns.delete()
            why = f"namespaces could not be made ({e})"
    return [Path("two-node", False, LOOPBACK, LOOPBACK,
                 f"over loopback, not a veth between namespaces: {why}"),
            Path("one-node", True, LOOPBACK, LOOPBACK,
                 f"on the host's lo, which other programs share: {why}")], None
