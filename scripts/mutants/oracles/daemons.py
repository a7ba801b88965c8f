"""02_daemons: start_background and run_with_deadline with targets that block, exit, or ignore SIGTERM."""
from __future__ import annotations

import multiprocessing
import multiprocessing.process
import os
import signal
import sys
import time

from . import Violation, oracle

EXERCISES = ("start_background", "run_with_deadline")

_seen = None        # shared record of the current trial: [pid of the target, daemon flag, args ok, ended]


def background_job(*args) -> None:
    """Record where it runs and with which arguments, then wait for the oracle's go (at most 5 s)."""
    seen, go = _seen
    seen[0] = os.getpid()
    seen[1] = int(multiprocessing.current_process().daemon)
    seen[2] = len(args)
    go.wait(5)
    seen[3] = 1


@oracle("start_background", timeout=12)
def start_background_trial(student, rng) -> None:
    global _seen
    go = multiprocessing.Event()
    _seen = (multiprocessing.RawArray("q", [0, -1, -1, 0]), go)
    args = tuple(rng.randint(0, 9) for _ in range(rng.randint(0, 3)))
    began = time.monotonic()
    p = student.start_background(background_job, args) if args or rng.random() < 0.5 \
        else student.start_background(background_job)
    took = time.monotonic() - began
    seen = _seen[0]
    try:
        if not isinstance(p, multiprocessing.process.BaseProcess):     # a context's Process too
            raise Violation("does not return the Process", f"returned {p!r}")
        if seen[3] or took > 2:
            raise Violation("waits for the target", f"returned after {took:.1f} s")
        deadline = time.monotonic() + 3
        while not seen[0] and time.monotonic() < deadline:
            time.sleep(0.005)
        if not seen[0]:
            raise Violation("never starts the target", "the target did not run within 3 s")
        if seen[0] == os.getpid():
            raise Violation("runs the target in the caller", "")
        if seen[0] != p.pid:
            raise Violation("the target runs in another process", f"target pid {seen[0]}, returned pid {p.pid}")
        if seen[1] != 1 or not p.daemon:
            raise Violation("not a daemon", "the target's process is not daemonic")
        if seen[2] != len(args):
            raise Violation("wrong arguments", f"the target got {seen[2]} argument(s), expected {len(args)}")
    finally:
        go.set()


def deadline_job(seconds: float, code: int, ignore_term: bool, spawn_child: bool) -> None:
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if spawn_child:                # a daemonic process may not start children: this one must be allowed to
        child = multiprocessing.Process(target=time.sleep, args=(0,))
        child.start()
        child.join()
    time.sleep(seconds)
    sys.exit(code)


@oracle("run_with_deadline", timeout=14, leftovers=True)
def run_with_deadline_trial(student, rng) -> None:
    timeout = rng.uniform(0.2, 1.0)
    kind = rng.choice(["quick", "quick", "slow", "stubborn"])
    seconds = rng.uniform(0, timeout / 3) if kind == "quick" else 30
    code = rng.choice([0, 0, 2, 7]) if kind == "quick" else 0
    began = time.monotonic()
    got = student.run_with_deadline(deadline_job, (seconds, code, kind == "stubborn", rng.random() < 0.3), timeout)
    took = time.monotonic() - began
    expected = {"quick": code, "slow": -signal.SIGTERM, "stubborn": -signal.SIGKILL}[kind]
    if type(got) is not int:
        raise Violation("exit code is not an int", f"returned {got!r} for a {kind} target")
    if got != expected:
        raise Violation("wrong exit code", f"a {kind} target (timeout {timeout:.2f} s): returned {got}, "
                        f"expected {expected}")
    if kind != "quick" and took > timeout + 5:
        raise Violation("waits far past the timeout", f"{took:.1f} s for a timeout of {timeout:.2f} s")
