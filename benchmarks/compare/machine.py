"""machine.py - what the figures were measured on: CPU, kernel, library versions, load.

Absolute times on a shared machine are noise; the ratios of one run are what the runner
reports, and this is the context a reader needs to judge them: how many cores, whether a
hypervisor sits underneath, which UCX and MPI builds, and how loaded the machine was before
and after (other people's builds count too).
"""

import os
import platform
import re
import shutil
import subprocess
import time

LSCPU_KEYS = ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket",
              "Socket(s)", "Hypervisor vendor", "L3 cache")


def _first_line(argv, pattern=None):
    """The first line of ARGV's output (matching PATTERN if given), or None."""
    if not shutil.which(argv[0]):
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in (out.stdout + out.stderr).splitlines():
        if line.strip() and (pattern is None or re.search(pattern, line)):
            return " ".join(line.lstrip("# ").split())   # "# Version 1.13.1" -> "Version 1.13.1"
    return None


def lscpu():
    info = {}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return info
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in LSCPU_KEYS:
            info[key.strip()] = value.strip()
    return info


def source_version(root):
    """The commit the source tree is at, marked when it has uncommitted changes."""
    commit = _first_line(["git", "-C", root, "rev-parse", "--short", "HEAD"])
    try:
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain"], capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        dirty = ""
    return f"{commit or '?'}{' + uncommitted changes' if dirty else ''}"


def collect(source_root):
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "source": source_version(source_root),
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": lscpu(),
        "ucx": _first_line(["ucx_info", "-v"], r"[Vv]ersion"),
        "openmpi": _first_line(["mpirun.openmpi", "--version"]),
        "mpich": _first_line(["mpichversion"], r"Version") or
                 _first_line(["mpirun.mpich", "--version"], r"Version"),
        "gnuplot": _first_line(["gnuplot", "--version"]),
        "load_before": os.getloadavg(),
    }


def finish(info):
    info["load_after"] = os.getloadavg()
    return info


def describe(info):
    """One paragraph for summary.md."""
    cpu = info.get("cpu", {})
    return (f"{cpu.get('Model name', '?')}, {cpu.get('CPU(s)', '?')} CPUs "
            f"({cpu.get('Thread(s) per core', '?')} thread(s) per core"
            f"{', hypervisor ' + cpu['Hypervisor vendor'] if 'Hypervisor vendor' in cpu else ''}); "
            f"kernel {info['kernel']}; source {info.get('source')}; "
            f"UCX: {info.get('ucx') or '?'}; "
            f"Open MPI: {info.get('openmpi') or 'absent'}; MPICH: {info.get('mpich') or 'absent'}; "
            f"load average (1/5/15 min) before {_load(info.get('load_before'))}, "
            f"after {_load(info.get('load_after'))}.")


def _load(values):
    return "/".join(f"{v:.2f}" for v in values) if values else "?"
