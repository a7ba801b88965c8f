"""Brute-force stress oracles: one per exercise, the contract of COURSE_SPEC.md tried with randomness.

An oracle is ``run(student, rng)``: ``student`` is the answer cells loaded as a module,
``rng`` this trial's ``random.Random`` (it picks sizes, counts, splits and how long the
delays may be; processes draw their actual delays from ``pause``, seeded per process).
It raises ``Violation(clause, detail)`` when the contract is broken; any other exception
counts as "raises". Oracles run real processes, locks, queues and sockets, never the
grader's instrumented objects, and never import ``mpcourse``: they are an independent
second opinion on what "correct" means.
"""
from __future__ import annotations

import importlib
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

MODULES = {"01_processes": "processes", "02_daemons": "daemons", "03_locks": "locks", "04_ipc": "ipc",
           "05_queues": "queues", "06_producer_consumer": "producer_consumer", "07_sockets": "sockets"}


class Violation(Exception):
    def __init__(self, clause: str, detail: str = ""):
        super().__init__(f"{clause}: {detail}")
        self.clause = clause
        self.detail = detail


@dataclass
class OracleSpec:
    exercise: str
    run: Callable
    timeout: float          # one trial's deadline; past it the trial counts as "hangs"
    leftovers: bool         # the contract says "leave no process running"


REGISTRY: dict[str, OracleSpec] = {}


def oracle(exercise: str, timeout: float = 10.0, leftovers: bool = False):
    def register(run):
        REGISTRY[exercise] = OracleSpec(exercise, run, timeout, leftovers)
        return run
    return register


def oracle_for(assignment: str, exercise: str) -> OracleSpec:
    importlib.import_module(f"{__name__}.{MODULES[assignment]}")
    return REGISTRY[exercise]


def exercises(assignment: str) -> list[str]:
    module = importlib.import_module(f"{__name__}.{MODULES[assignment]}")
    return list(module.EXERCISES)


# ------------------------------------------------------------------ helpers for oracles

_local: tuple[int, random.Random] | None = None


def local_random() -> random.Random:
    """A generator of this process's own (a forked child must not replay its parent's delays)."""
    global _local
    if _local is None or _local[0] != os.getpid():
        _local = (os.getpid(), random.Random(os.urandom(8)))
    return _local[1]


def pause(longest: float) -> None:
    """Sleep a random time up to ``longest`` s (0: yield nothing)."""
    if longest > 0:
        time.sleep(local_random().uniform(0, longest))


def leftover_processes() -> list[str]:
    """This process's descendants that still run (zombies do not: they have exited)."""
    import psutil

    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found.append(f"pid {child.pid} ({child.name()})")
        except psutil.Error:
            continue
    return found


def join_all(processes, timeout: float, what: str) -> None:
    """Join oracle-started processes; a Violation ("hangs") if one is still running after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    stuck = [p.name for p in processes if p.is_alive()]
    if stuck:
        raise Violation("hangs", f"{what}: {len(stuck)} process(es) still running after {timeout:g} s")
