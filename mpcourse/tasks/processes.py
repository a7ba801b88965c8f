"""Child-process functions of lecture 01 (processes).

Children never print: a notebook cell does not reliably show what a child writes.
They send results back through a Queue or record events on a Timeline instead.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import subprocess
import sys
import time

from ..timeline import Timeline

#: a number in this module's memory: under fork, parent and child see it at the same (virtual) address
NUMBER = ctypes.c_long(1)

#: a module-level setting that lecture 01 changes in the parent to show what each start method copies
SETTING = "the value written in the source file"


def burn_cpu(seconds: float) -> None:
    """Keep the CPU busy for ``seconds`` (a stand-in for real computation)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def count_down(n: int) -> int:
    """Pure-Python CPU work: no I/O, no waiting, so the thread that runs it holds the GIL throughout."""
    while n:
        n -= 1
    return n


def count_down_and_report(n: int, out: multiprocessing.Queue) -> None:
    """Count down and report (start, end, CPU seconds): a process has a GIL of its own."""
    start, cpu = time.perf_counter(), time.process_time()
    count_down(n)
    out.put((start, time.perf_counter(), time.process_time() - cpu))


def measure_cpu_share(seconds: float, out: multiprocessing.Queue) -> None:
    """Burn CPU for ``seconds`` of wall time and report the fraction of it we really spent on a CPU."""
    wall, cpu = time.perf_counter(), time.process_time()
    burn_cpu(seconds)
    out.put((time.process_time() - cpu) / (time.perf_counter() - wall))


def compute_wait_compute(tl: Timeline, inbox: multiprocessing.Queue, outbox: multiprocessing.Queue) -> None:
    """Compute, block until the parent sends a number, compute again: the running/blocked states of a process."""
    tl.state("running", "computing")
    burn_cpu(0.05)
    tl.state("blocked", "get")
    number = inbox.get()                  # nothing to do until the parent sends: the OS parks us
    tl.state("running", "computing")
    burn_cpu(0.05)
    outbox.put(number * 2)
    tl.state("exited")


def say_hello(out: multiprocessing.Queue) -> None:
    """Tell the parent who we are, so the parent (not the child) can print it."""
    me = multiprocessing.current_process()
    parent = multiprocessing.parent_process()
    out.put({"name": me.name, "pid": os.getpid(), "parent_pid": parent.pid if parent else None})


def nap(tl: Timeline, go: multiprocessing.synchronize.Event, seconds: float) -> None:
    """Wait for the parent's go, sleep for ``seconds``, and record it all on the timeline."""
    tl.state("blocked", "go.wait()")
    go.wait(60)
    tl.state("blocked", "sleep")
    time.sleep(seconds)
    tl.state("exited")


class Reporter(multiprocessing.Process):
    """A Process subclass: the work lives in ``run()``, which ``start()`` calls in the new process."""

    def __init__(self, person: str, out: multiprocessing.Queue):
        super().__init__(name=f"reporter-{person}")   # without this call the Process is half-built
        self.person = person
        self.out = out

    def run(self) -> None:
        """Runs in the child after start(); called directly it runs in the caller's process."""
        self.out.put(f"{self.person} reporting from {multiprocessing.current_process().name}")


def change_setting(out: multiprocessing.Queue) -> None:
    """Report the SETTING this process sees, change it, and report again: memory is per process."""
    global SETTING
    before = SETTING
    SETTING = "changed by the child"
    out.put((before, SETTING))


def change_number(out: multiprocessing.Queue) -> None:
    """Write 2 into NUMBER and report its address and value: the same address as the parent's, another memory."""
    NUMBER.value = 2
    out.put((ctypes.addressof(NUMBER), NUMBER.value))


def report_setting(out: multiprocessing.Queue) -> None:
    """Report the SETTING this process sees: what did the start method copy from the parent?"""
    out.put(SETTING)


def sleep_then_exit(seconds: float, code: int) -> None:
    """Sleep, then end the process with exit code ``code``."""
    time.sleep(seconds)
    sys.exit(code)


def report_niceness(tl: Timeline, out: multiprocessing.Queue, seconds: float) -> None:
    """Record our scheduling priority now and ``seconds`` later, while the parent is inside join()."""
    tl.state("running")
    before = os.nice(0) if hasattr(os, "nice") else 0
    tl.state("blocked", "sleep")
    time.sleep(seconds)
    tl.state("running")
    after = os.nice(0) if hasattr(os, "nice") else 0
    out.put((before, after))
    tl.state("exited")


def sleep_forever(tl: Timeline) -> None:
    """Sleep far longer than any demo; the parent ends us with terminate()."""
    tl.state("blocked", "sleep")
    try:
        time.sleep(60)
    finally:
        tl.mark("finally ran")            # never recorded: SIGTERM's default action skips finally


def clean_up_on_sigterm(tl: Timeline, ready: multiprocessing.synchronize.Event, cleanup: float) -> None:
    """Catch SIGTERM and spend ``cleanup`` seconds tidying up: terminate() does not end us at once."""

    def on_sigterm(signum, frame):
        tl.state("blocked", "sleep: cleaning up")
        time.sleep(cleanup)
        tl.state("exited")
        os._exit(0)

    signal.signal(signal.SIGTERM, on_sigterm)
    tl.state("blocked", "sleep")
    ready.set()                # an Event, not a Queue: a queue's feeder thread could catch the signal
    for _ in range(600):       # short sleeps: Python runs a handler between them at the latest
        time.sleep(0.1)


def exit_at_once() -> None:
    """Return immediately: the process ends, and stays a zombie until its parent waits for it."""


def leave_an_orphan(out: multiprocessing.Queue, seconds: float) -> None:
    """Start a grandchild (a plain OS process) and exit without waiting: the grandchild becomes an orphan."""
    grandchild = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
    out.put(grandchild.pid)                # then return: nothing waits for the grandchild
