#!/usr/bin/env python3
"""test_summarize.py - summarize.py, the soak test's verdict, fails on what it must catch.

The soak itself (soak_2min) only passes on a healthy service, so it cannot show that its checks
work. This feeds summarize.py made-up runs: a clean one passes; a lost, duplicated or
mismatched call, a caller that never saw OK, a last caller that did not drain, a stall, RSS or
fd growth of either service each fail it, and the summary names the problem."""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DURATION = 120


def ledger(**over):
    led = {"pid": 1, "finished": False, "issued": 1000, "refused": 0, "ended": 1000, "lost": 0,
           "abandoned": 0, "duplicated": 0, "mismatched": 0, "reconnects": 0,
           "status": {"OK": 990, "UNAVAILABLE": 10}}
    led.update(over)
    return led


def write_run(out, ledgers, a_rss=lambda t: 10000, b_rss=lambda life, t: 10000,
              fds=lambda node, t: 30, stall_at=None):
    os.makedirs(os.path.join(out, "ledgers"))
    for i, led in enumerate(ledgers, 1):
        with open(os.path.join(out, "ledgers", f"{i}.json"), "w") as f:
            f.write(json.dumps(led) + "\n")
    with open(os.path.join(out, "churn.log"), "w") as f:
        f.write("attach ratelimit\ndetach ratelimit\nkill9 caller\n")
    with open(os.path.join(out, "samples.txt"), "w") as f, \
            open(os.path.join(out, "progress.txt"), "w") as p:
        for t in range(DURATION):
            life = t // 40
            f.write(f"{t} a 0 {a_rss(t)} {fds('a', t)}\n")
            f.write(f"{t} b {life} {b_rss(life, t)} {fds('b', t)}\n")
            ok = t * 100 if stall_at is None or t < stall_at else stall_at * 100
            p.write(f"{t} 1 {ok}\n")


def verdict(name, expect_pass, expect_text="", **run):
    with tempfile.TemporaryDirectory() as out:
        write_run(out, **run)
        res = subprocess.run([sys.executable, os.path.join(HERE, "summarize.py"), "--out", out,
                              "--duration", str(DURATION)], capture_output=True, text=True)
    summary = json.loads(res.stdout) if res.stdout.strip() else {}
    ok = (res.returncode == 0) == expect_pass and summary.get("passed") == expect_pass
    ok = ok and all(expect_text in p for p in summary.get("problems", [])[:1] or [""])
    print(f"{'ok  ' if ok else 'FAIL'} {name}: rc {res.returncode}, problems "
          f"{summary.get('problems')}{res.stderr.strip()}")
    return ok


def main():
    last = ledger(finished=True)
    cases = [
        verdict("clean run", True, ledgers=[ledger(abandoned=3), last]),
        verdict("lost call", False, "lost", ledgers=[ledger(), ledger(finished=True, lost=1)]),
        verdict("duplicate", False, "duplicated", ledgers=[ledger(duplicated=1), last]),
        verdict("mismatch", False, "mismatched", ledgers=[ledger(mismatched=2), last]),
        verdict("caller without OK", False, "saw no call end OK",
                ledgers=[ledger(status={"UNAVAILABLE": 1000}), last]),
        verdict("last caller not drained", False, "drain", ledgers=[ledger(), ledger()]),
        verdict("stall", False, "no call ended OK", ledgers=[last], stall_at=60),
        verdict("A's RSS grows", False, "service_a rss", ledgers=[last],
                a_rss=lambda t: 10000 + 20 * t),
        verdict("B's lives grow", False, "service_b rss", ledgers=[last],
                b_rss=lambda life, t: 10000 + 1000 * life),
        verdict("A's fds grow", False, "service_a fds", ledgers=[last],
                fds=lambda node, t: 30 + (t // 10 if node == "a" else 0)),
        verdict("B restarts reset its RSS", True, ledgers=[last],
                b_rss=lambda life, t: 10000 + 40 * (t % 40)),
    ]
    return 0 if all(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
