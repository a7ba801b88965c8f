"""Child-process functions of lecture 02 (daemon processes, 守护进程).

Children never print: they record events on a Timeline or send results back.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import os
import signal
import time

from ..timeline import Timeline


def record_death_by_sigterm(tl: Timeline) -> None:
    """On SIGTERM, record the moment on the timeline, then die of SIGTERM as usual (exitcode -15)."""

    def on_sigterm(signum, frame):
        tl.state("exited", "SIGTERM")
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    if hasattr(signal, "SIGTERM") and os.name == "posix":
        signal.signal(signal.SIGTERM, on_sigterm)


def sleep_in_steps(seconds: float, step: float = 0.02) -> None:
    """Sleep in short steps, so that a signal handler runs promptly."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(step, left))


def attend(tl: Timeline, ready: multiprocessing.synchronize.Event, seconds: float) -> None:
    """The consort (a daemon): plans to attend for ``seconds``; recorded, so we see when she is ended."""
    record_death_by_sigterm(tl)
    tl.state("blocked", "sleep: attending")
    ready.set()
    sleep_in_steps(seconds)
    tl.state("exited", "finished")


def govern(tl: Timeline, seconds: float) -> None:
    """The minister (not a daemon): works for ``seconds`` and then exits on his own."""
    tl.state("blocked", "sleep: governing")
    sleep_in_steps(seconds)
    tl.state("exited", "finished")


def reign(tl: Timeline, reign_seconds: float, consort_seconds: float, minister_seconds: float) -> None:
    """The emperor: starts a daemon consort and a non-daemon minister, reigns, then his process ends.

    When this function returns, multiprocessing ends the interpreter: it terminates daemonic
    children and joins the others. That is what the timeline shows.
    """
    tl.state("blocked", "sleep: reigning")
    ready = multiprocessing.Event()
    consort = multiprocessing.Process(target=attend, args=(tl, ready, consort_seconds),
                                      name="consort (daemon)", daemon=True)
    minister = multiprocessing.Process(target=govern, args=(tl, minister_seconds), name="minister")
    consort.start()
    minister.start()
    ready.wait(30)                    # the consort is up and has her SIGTERM recorder in place
    sleep_in_steps(reign_seconds)
    tl.state("blocked", "exiting: join the non-daemons")


def reign_and_report(tl: Timeline, conn: multiprocessing.connection.Connection, consort_seconds: float) -> None:
    """An emperor who reports his consort's pid and then reigns until he is killed."""
    tl.state("blocked", "sleep: reigning")
    ready = multiprocessing.Event()
    consort = multiprocessing.Process(target=attend, args=(tl, ready, consort_seconds),
                                      name="consort (daemon)", daemon=True)
    consort.start()
    ready.wait(30)
    conn.send(consort.pid)
    sleep_in_steps(60)


def try_to_have_a_child(conn: multiprocessing.connection.Connection) -> None:
    """A daemon tries to start a process of its own and reports what happened."""
    try:
        child = multiprocessing.Process(target=time.sleep, args=(0.1,))
        child.start()
        child.join()
        conn.send("it worked")
    except AssertionError as error:
        conn.send(f"AssertionError: {error}")


def download_in_background(tl: Timeline, chunks: int, seconds_per_chunk: float,
                           out: multiprocessing.Queue) -> None:
    """A prefetcher (a daemon): fetches chunks one by one and hands each over through ``out``."""
    record_death_by_sigterm(tl)
    tl.state("blocked", "sleep: download")         # the sleep stands in for waiting on a server
    for i in range(chunks):
        sleep_in_steps(seconds_per_chunk)
        tl.mark(f"chunk {i}")
        out.put(f"chunk {i}")
    tl.state("exited", "finished")


def work_for(tl: Timeline, seconds: float) -> None:
    """A job that takes ``seconds``: longer than the parent is willing to wait."""
    record_death_by_sigterm(tl)
    tl.state("blocked", "sleep: working")
    sleep_in_steps(seconds)
    tl.state("exited", "finished")


def ignore_sigterm(tl: Timeline, ready: multiprocessing.synchronize.Event) -> None:
    """A stubborn child that ignores SIGTERM: only kill() (SIGKILL, which cannot be caught) ends it."""
    if os.name == "posix":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    tl.state("blocked", "sleep, ignoring SIGTERM")
    ready.set()
    sleep_in_steps(60)
