"""01_processes: run_all and SquareWorker with real jobs that record where and when they ran."""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time

from . import Violation, oracle

EXERCISES = ("run_all", "square_worker")

_board = None        # shared arrays of the current trial (inherited by forked children)


class _Board:
    """Per job: pid, start and end times; how many jobs run now and the most that ever ran at once."""

    def __init__(self, jobs: int):
        self.pid = multiprocessing.RawArray("q", jobs)
        self.start = multiprocessing.RawArray("d", jobs)
        self.end = multiprocessing.RawArray("d", jobs)
        self.running = multiprocessing.RawValue("i", 0)
        self.most = multiprocessing.RawValue("i", 0)
        self.mutex = multiprocessing.Lock()


def job(index: int, jobs: int, seconds: float, outcome: str) -> None:
    """A target: record itself, wait (up to 1 s) until every job runs at once, work, then end as told."""
    board = _board
    with board.mutex:
        board.pid[index] = os.getpid()
        board.start[index] = time.monotonic()
        board.running.value += 1
        board.most.value = max(board.most.value, board.running.value)
    give_up = time.monotonic() + 1.0
    while board.most.value < jobs and time.monotonic() < give_up:
        time.sleep(0.002)
    time.sleep(seconds)
    with board.mutex:
        board.running.value -= 1
        board.end[index] = time.monotonic()
    if outcome == "raise":
        raise RuntimeError("a job that fails")
    if outcome == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if outcome != "0":
        sys.exit(int(outcome))


@oracle("run_all", timeout=12, leftovers=True)
def run_all_trial(student, rng) -> None:
    global _board
    jobs = rng.randint(1, 5)
    _board = _Board(jobs)
    outcomes = [rng.choice(["0", "0", "1", "3", "raise", "kill"]) for _ in range(jobs)]
    args = [(i, jobs, rng.uniform(0, 0.2), outcomes[i]) for i in range(jobs)]
    arg_tuples = args if rng.random() < 0.5 else [list(a) for a in args]
    codes = student.run_all(job, arg_tuples)
    now = time.monotonic()
    expected = [0 if o == "0" else 1 if o == "raise" else -signal.SIGKILL if o == "kill" else int(o) for o in outcomes]
    if any(_board.pid[i] == os.getpid() for i in range(jobs)):
        raise Violation("runs a job in the caller", "a target ran in the calling process (run() instead of start()?)")
    if any(_board.end[i] == 0 or _board.end[i] > now for i in range(jobs)):
        raise Violation("returns before every job ended", f"{jobs} jobs")
    if not isinstance(codes, (list, tuple)) or list(codes) != expected:
        raise Violation("wrong exit codes", f"returned {codes!r}, expected {expected}")
    if _board.most.value < jobs:
        raise Violation("jobs not all at the same time", f"at most {_board.most.value} of {jobs} jobs ran at once")


class Number(int):
    """An int that records which process squares it."""

    def __mul__(self, other):
        _squared_in[0] = os.getpid()
        return int(self) * int(other)

    __rmul__ = __mul__

    def __pow__(self, other, modulo=None):
        _squared_in[0] = os.getpid()
        return pow(int(self), int(other), modulo)


_squared_in = [0]      # a plain list: only squaring in *this* process shows here


@oracle("square_worker", timeout=15)
def square_worker_trial(student, rng) -> None:
    workers = rng.randint(1, 4)
    queue = multiprocessing.Queue()
    lists = [[Number(rng.randint(-50, 50)) for _ in range(rng.choice([0, 1, 3, 20]))] for _ in range(workers)]
    argument = [lst if rng.random() < 0.7 else tuple(lst) for lst in lists]
    _squared_in[0] = 0
    procs = [student.SquareWorker(numbers, queue) for numbers in argument]
    if _squared_in[0]:
        raise Violation("squares in the parent", "a number was squared in __init__, before start()")
    if not all(isinstance(p, multiprocessing.Process) for p in procs):
        raise Violation("not a Process", "SquareWorker is not a multiprocessing.Process")
    for p in procs:
        p.start()
    got = []
    for _ in procs:
        try:
            got.append(queue.get(timeout=8))
        except Exception:  # noqa: BLE001
            raise Violation("puts nothing", f"{len(got)} of {len(procs)} results arrived") from None
    for p in procs:
        p.join(5)
    if _squared_in[0]:
        raise Violation("squares in the parent", "a number was squared in the parent process")
    expected = {p.pid: [n * n for n in map(int, numbers)] for p, numbers in zip(procs, lists)}
    try:
        seen = {pid: list(squares) for pid, squares in got}
    except (TypeError, ValueError):
        raise Violation("wrong result", f"got {got!r}") from None
    if os.getpid() in seen:
        raise Violation("work in the parent", "a result carries the parent's pid")
    if seen != expected or len(got) != len(procs):
        raise Violation("wrong result", f"got {seen}, expected {expected}")
