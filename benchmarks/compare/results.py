"""results.py - what a comparison run collects, and the medians everything is reported from.

Rows are per (path, system, repetition, pattern, size), as systems.py makes them, plus the
path, the system, the transport the run used and its run's wire check. A figure reported for
a (path, system, pattern, size) is the median over the repetitions of that figure (the median
of the per-run p50s, of the per-run p99s, ...), so one noisy repetition moves nothing.

The wire check compares the bytes the path's devices carried during a run with the payload the
run measured: a two-node run must have put at least its payload on the wire (else it took a
short cut, e.g. shared memory); a one-node run must have put less than that on lo (else it did
not use shared memory; lo also carries other programs' traffic, so only a whole payload's worth
is suspect). Runs under 1 MB of payload are not judged.
"""

import statistics

METRICS = ("rtt_p50_us", "rtt_p99_us", "mbps", "ops_per_s", "cpu_us_per_op")
JUDGED_PAYLOAD = 1 << 20


def payload_bytes(r):
    return r.get("payload_bytes") or 0


class Results:
    def __init__(self):
        self.rows = []
        self.runs = []           # one per system run: wire check
        self.failures = []       # {path, system, rep, pattern, error}
        self.skipped = {}        # system -> reason (not run at all)
        self.notes = {}          # path -> [sentences]
        self.idle = {}           # P5: {"phoenixd_cpu_pct": .., "app_cpu_pct": .., "seconds": ..}
        self.hops = {}           # path -> per-hop analysis (hops.py)
        self.lanes = {}          # (path, system) -> transports seen

    def note(self, path, text):
        if text not in self.notes.setdefault(path, []):
            self.notes[path].append(text)

    def fail(self, path, system, rep, pattern, error):
        self.failures.append({"path": path, "system": system, "rep": rep, "pattern": pattern,
                              "error": error})

    def add(self, path, system, rep, rows, transport, wire):
        payload = sum(payload_bytes(r) for r in rows)
        check = self._wire_check(path, wire, payload)
        self.runs.append({"path": path.name, "system": system, "rep": rep,
                          "pattern": rows[0]["pattern"] if rows else "?", "wire_bytes": wire,
                          "payload_bytes": payload, "wire_check": check})
        self.lanes.setdefault((path.name, system), set()).add(transport)
        for r in rows:
            r.update(path=path.name, system=system, rep=rep, transport=transport,
                     run_wire_bytes=wire, wire_check=check)
            self.rows.append(r)

    @staticmethod
    def _wire_check(path, wire, payload):
        if wire is None:
            return "unknown"
        if payload < JUDGED_PAYLOAD:
            return "not judged"
        if path.shm:   # lo also carries other programs' traffic: only the whole payload counts
            return "ok" if wire < payload else "SUSPECT: payload went over " + path.client.dev
        return "ok" if wire >= payload else "SUSPECT: less on the wire than the payload"

    def suspect_runs(self):
        return [r for r in self.runs if r["wire_check"].startswith("SUSPECT")]

    def median(self, path, system, pattern, size, metric):
        values = [r[metric] for r in self.rows
                  if (r["path"], r["system"], r["pattern"], r["size"]) ==
                  (path, system, pattern, size) and r.get(metric) is not None]
        return statistics.median(values) if values else None

    def breakdown(self, path, system, pattern, size):
        """Median CPU us per op of each process role (mRPC rows only)."""
        roles = {}
        for r in self.rows:
            if (r["path"], r["system"], r["pattern"], r["size"]) == (path, system, pattern, size):
                for role, v in (r.get("cpu_breakdown") or {}).items():
                    if v is not None:
                        roles.setdefault(role, []).append(v)
        return {role: statistics.median(v) for role, v in roles.items()}

    def sizes(self, path, system, pattern):
        return sorted({r["size"] for r in self.rows
                       if (r["path"], r["system"], r["pattern"]) == (path, system, pattern)})

    def systems(self):
        seen = []
        for r in self.rows:
            if r["system"] not in seen:
                seen.append(r["system"])
        return seen
