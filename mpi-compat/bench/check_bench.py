#!/usr/bin/env python3
"""check_bench.py - the test side of the mpi-compat micro-benchmarks: runs one (under run_mpi.sh
and mrpc-run, or under another MPI's mpirun) and checks what rank 0 printed.

    check_bench.py --sizes MIN:MAX --cols N -- COMMAND...      a by-size table
    check_bench.py --init NP -- COMMAND...                      mpib_init's start-up figures

A table passes when COMMAND exits 0, the header names the MPI and MPI_Wtick, there is exactly
one row per size of the sweep (MIN, doubling to MAX; 0 is followed by 1), in order, each with N
figures that are finite and positive, and the closing "# ok:" line counts the rows. mpib_init
passes with its MPI_Init line (0 < min <= avg <= max) and a hello from each of the NP ranks.
Lines may carry mrpc-run's "[RANK] " tag. Prints "ok: ..." or "FAILED: ..." (exit 1); the
command is bounded by --timeout seconds (default 180).
"""

import argparse
import math
import re
import subprocess
import sys

TAG = re.compile(r"^\[(\d+)\] ")


def expected_sizes(spec):
    lo, _, hi = spec.partition(":")
    size, top, out = int(lo), int(hi or lo), []
    while size <= top:
        out.append(size)
        size = size * 2 if size else 1
    return out


def rank0_lines(text):
    """Rank 0's lines (untagged lines count as rank 0's: another MPI's mpirun)."""
    out = []
    for line in text.splitlines():
        m = TAG.match(line)
        if m is None or m.group(1) == "0":
            out.append(TAG.sub("", line))
    return out


def figures(fields):
    try:
        values = [float(f) for f in fields]
    except ValueError:
        return None
    return values if all(math.isfinite(v) and v > 0 for v in values) else None


def check_table(lines, sizes, cols):
    errors = []
    if not any(l.startswith("# MPI ") for l in lines) or not any("MPI_Wtick" in l for l in lines):
        errors.append("the header does not name the MPI and MPI_Wtick")
    rows = [l.split() for l in lines if re.match(r"^\d+\s", l)]
    got = [int(r[0]) for r in rows]
    if got != sizes:
        errors.append(f"sizes {got}, expected {sizes}")
    for r in rows:
        if len(r) != cols + 1 or figures(r[1:]) is None:
            errors.append(f"row '{' '.join(r)}': expected {cols} finite positive figures")
    closing = [l for l in lines if l.startswith("# ok: ")]
    if not closing or not closing[-1].endswith(f": {len(rows)} rows"):
        errors.append(f"no closing '# ok: ... {len(rows)} rows' line")
    return errors, f"{len(rows)} rows, sizes {sizes[0]}..{sizes[-1]}, {cols} figure(s) each"


def check_init(lines, np):
    errors = []
    m = [re.match(r"^MPI_Init \(ms\): avg (\S+) min (\S+) max (\S+)$", l) for l in lines]
    m = [x for x in m if x]
    v = figures(m[0].groups()) if len(m) == 1 else None
    if v is None or not v[1] <= v[0] <= v[2]:
        errors.append("no sane 'MPI_Init (ms): avg A min B max C' line")
    hellos = sorted(int(x.group(1)) for x in
                    (re.match(rf"^hello from rank (\d+) of {np} on \S+", l) for l in lines) if x)
    if hellos != list(range(np)):
        errors.append(f"hellos from ranks {hellos}, expected 0..{np - 1}")
    return errors, f"MPI_Init {v[0] if v else '?'} ms average, {len(hellos)} hellos"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes")
    p.add_argument("--cols", type=int, default=1)
    p.add_argument("--init", type=int)
    p.add_argument("--timeout", type=float, default=180)
    p.add_argument("command", nargs="+")
    a = p.parse_args()
    try:
        run = subprocess.run(a.command, capture_output=True, text=True, timeout=a.timeout)
    except subprocess.TimeoutExpired:
        print(f"FAILED: {' '.join(a.command)} did not end within {a.timeout} s")
        return 1
    sys.stdout.write(run.stdout)
    sys.stdout.write("".join(f"stderr: {l}\n" for l in run.stderr.splitlines()))
    if run.returncode != 0:
        print(f"FAILED: {' '.join(a.command)} exited {run.returncode}")
        return 1
    lines = rank0_lines(run.stdout)
    if a.init:
        errors, what = check_init(lines, a.init)
    else:
        errors, what = check_table(lines, expected_sizes(a.sizes), a.cols)
    for e in errors:
        print(f"FAILED: {e}")
    if not errors:
        print(f"ok: checked {what}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
