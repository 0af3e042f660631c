"""procs.py - every process the comparison runner starts, and the CPU clocks of processes.

Each process starts in a session of its own, so its process group also holds whatever it
forks (mpirun's ranks, the command `ip netns exec` runs); its stdout and stderr go to files in
the run's log directory, which is also how the runner waits for a line such as "listening on".
Every process is registered here by PID until it is reaped: stop() ends one (SIGTERM to its
group, SIGKILL after a grace, then reaped), stop_all() every one still registered. The runner
calls stop_all() on every way out - normal end, failure, SIGINT, SIGTERM - so nothing it
started outlives it; should the runner itself be killed, each child gets SIGKILL from the
kernel (PR_SET_PDEATHSIG). Every wait has a deadline.

CPU time of another process is user + system time of all its threads, as /proc/PID/stat has it
(utime + stime), read through the process's CPU clock, which counts nanoseconds where /proc
counts 10 ms ticks; /proc is the fallback.
"""

import ctypes
import os
import re
import signal
import subprocess
import time

POLL_S = 0.02
OUTPUT_POLL_S = 0.2     # while a benchmark runs: rarely, to stay out of its way
STOP_GRACE_S = 3.0
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)

_live = {}   # pid -> Proc, until reaped


class ProcError(RuntimeError):
    """A process failed, or did not do what was awaited in time; the message says which."""


class Proc:
    """One started process; ARGV runs with ENV, its output in LOGDIR/NAME.out and .err."""

    def __init__(self, name, argv, env, logdir, stdin_pipe=False):
        self.name = name
        self.argv = argv
        self.out_path = os.path.join(logdir, name + ".out")
        self.err_path = os.path.join(logdir, name + ".err")
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(
                argv, env=env, stdout=out, stderr=err, start_new_session=True,
                stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                preexec_fn=_die_with_runner)
        self.pid = self.popen.pid
        _live[self.pid] = self

    def output(self):
        return _read(self.out_path)

    def errors(self):
        return _read(self.err_path)

    def running(self):
        return self.popen.poll() is None

    def why(self):
        """Its last error lines on stderr (else its last lines), for error messages."""
        lines = [line.strip() for line in self.errors().splitlines() if line.strip()]
        errors = [line for line in lines if re.search(r"rror|WARN|failed|cannot", line)]
        tail = (errors or lines)[-4:]
        return "; ".join(tail) if tail else "no message on stderr"

    def wait_for(self, pattern, timeout):
        """The first match of the regex PATTERN in its stdout; ProcError if it exits or
        TIMEOUT seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output())
            if match:
                return match
            if not self.running():
                raise ProcError(f"{self.name} exited ({self.popen.returncode}) before printing "
                                f"'{pattern}': {self.why()}")
            if time.monotonic() > deadline:
                raise ProcError(f"{self.name} did not print '{pattern}' within {timeout:.0f} s")
            time.sleep(POLL_S)

    def send_line(self, text):
        self.popen.stdin.write(text.encode() + b"\n")
        self.popen.stdin.flush()

    def wait(self, timeout):
        """Its exit status; stopped and ProcError if it is still running after TIMEOUT s."""
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ProcError(f"{self.name} was still running after {timeout:.0f} s: stopped")
        self._forget()
        return rc

    def stop(self, grace=STOP_GRACE_S):
        """Ends it and whatever it forked: SIGTERM to its group, SIGKILL after GRACE s."""
        if self.pid not in _live:
            return
        _signal_group(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _signal_group(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=grace)
        _signal_group(self.pid, signal.SIGKILL)   # forked children that ignored SIGTERM
        self._forget()

    def _forget(self):
        if self.popen.stdin:
            self.popen.stdin.close()
        _live.pop(self.pid, None)


def _die_with_runner():
    """In the child before exec: SIGKILL when the runner dies, even by SIGKILL (when it
    cannot stop anything itself). The setting survives exec (not of setuid programs)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _read(path):
    try:
        with open(path, "r", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def run(name, argv, env, logdir, timeout):
    """Runs ARGV to its end (at most TIMEOUT s); returns the Proc with .rc set."""
    proc = Proc(name, argv, env, logdir)
    proc.rc = proc.wait(timeout)
    return proc


def run_until_done(name, argv, env, logdir, timeout, done, exit_grace):
    """Runs ARGV like run(), but once DONE(stdout) holds (every result printed) waits only
    EXIT_GRACE s more for the exit before stopping it; .hung then says so (rc is 0)."""
    proc = Proc(name, argv, env, logdir)
    deadline, finished_at = time.monotonic() + timeout, None
    proc.hung = False
    while proc.running():
        now = time.monotonic()
        if finished_at is None and done(proc.output()):
            finished_at = now
        if finished_at is not None and now > finished_at + exit_grace:
            proc.stop()
            proc.rc, proc.hung = 0, True
            return proc
        if now > deadline:
            proc.stop()
            raise ProcError(f"{name} was still running after {timeout:.0f} s: stopped")
        time.sleep(OUTPUT_POLL_S)
    proc.rc = proc.wait(STOP_GRACE_S)
    return proc


def stop_all():
    """Stops every process still registered, newest first."""
    for proc in reversed(list(_live.values())):
        try:
            proc.stop()
        except (OSError, subprocess.TimeoutExpired):
            pass


def live_count():
    return len(_live)


def cpu_seconds(pid):
    """User + system CPU seconds of process PID (all threads), or None if it is gone."""
    try:
        return time.clock_gettime(((~pid) << 3) | 2)   # its CPUCLOCK_SCHED process clock
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def context_switches(pid):
    """Voluntary + involuntary context switches of all threads of PID (None if gone): how
    often its threads went to sleep or were preempted."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:   # voluntary_ctxt_switches: N, nonvoluntary_ctxt_switches: N
                    if "ctxt_switches:" in line:
                        total += int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return total
