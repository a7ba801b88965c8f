"""Child-process functions of lecture 05_queues (队列 queues).

Every function a child runs in the lecture lives here, not in a notebook cell, so that
children started with ``spawn`` or ``forkserver`` can import it by name. Children never
print: they send results back through a queue and record what they did on a Timeline.
"""
from __future__ import annotations

import multiprocessing
import queue
import time
from multiprocessing.queues import JoinableQueue, Queue
from multiprocessing.synchronize import Barrier

from ..timeline import Timeline


def put_items(q: Queue, items: list, start_after: float, tl: Timeline) -> None:
    """A fast producer: after ``start_after`` s, put every item; ``put`` blocks while the queue is full."""
    tl.state("blocked", "sleep: preparing")
    time.sleep(start_after)
    for item in items:
        with tl.span("blocked", "put"):
            q.put(item)
        tl.mark(f"put {item}")
    tl.state("exited")


def get_items(q: Queue, n: int, work: float, results: Queue, tl: Timeline) -> None:
    """A slow consumer: ``get`` blocks while the queue is empty; each item takes ``work`` s."""
    tl.state("running")
    got = []
    for _ in range(n):
        with tl.span("blocked", "get"):
            item = q.get()
        tl.mark(f"got {item}")
        got.append(item)
        tl.state("blocked", "sleep: work")
        time.sleep(work)
    results.put(got)
    tl.state("exited")


def put_one(q: Queue, item: object) -> None:
    """Put one small item and exit: exiting waits for the queue's feeder thread, so the item is in the pipe."""
    q.put(item)


def get_if_not_empty(q: Queue, barrier: Barrier, results: Queue) -> None:
    """Look (``empty()``), then act (``get``). The barrier makes every consumer look before any acts:
    the check-then-act race happens on every run, not by bad luck."""
    looked_empty = q.empty()
    barrier.wait()
    try:
        results.put(("got", q.get(timeout=0.3)))
    except queue.Empty:
        results.put(("queue.Empty", f"although empty() had said {looked_empty}"))


class SlowToPickle:
    """Stands for a big object: pickling it takes ``seconds``.

    ``Queue.put`` returns at once; a background feeder thread pickles the object and
    writes it into the pipe later. While it does, the queue looks empty to everyone.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __reduce__(self):
        time.sleep(self.seconds)
        return (SlowToPickle, (self.seconds,))

    def __repr__(self) -> str:
        return "SlowToPickle()"


def square_tasks(q: JoinableQueue, results: Queue, work: float, tl: Timeline) -> None:
    """A worker on a JoinableQueue: ``task_done()`` after every ``get`` (sentinel included), so that
    ``q.join()`` in the parent returns exactly when every task has been handled."""
    tl.state("running")
    try:
        while True:
            with tl.span("blocked", "get"):
                task = q.get()
            try:
                if task is None:          # the sentinel (哨兵): no more tasks
                    return
                tl.state("blocked", "sleep: work")
                time.sleep(work)
                results.put((task, task * task))
                tl.mark(f"{task}²")
            finally:
                q.task_done()
    finally:
        tl.state("exited")


def put_big_result(q: Queue, size: int, tl: Timeline) -> None:
    """Put one result of ``size`` bytes, then do explicitly what every process does at exit:
    wait for the queue's feeder thread to write all of it into the pipe. A pipe holds only
    64 KiB on Linux (less on some systems), so that wait lasts until another process reads it."""
    tl.state("running")
    q.put(b"x" * size)
    tl.mark("put returned")
    q.close()
    with tl.span("blocked", "flushing the queue at exit", after="exited"):
        q.join_thread()


def put_bytes(q: Queue, size: int) -> None:
    """Put ``size`` bytes and exit (exit waits until the bytes have been read from the pipe)."""
    q.put(b"x" * size)


def join_then_get(size: int) -> int:
    """The classic deadlock (死锁): ``join()`` the child before taking its result off the queue.

    The child cannot exit until its result has left the pipe; the parent does not read
    until the child has exited. Run it only under ``mpcourse.call_with_deadline``.
    """
    q = multiprocessing.Queue()
    child = multiprocessing.Process(target=put_bytes, args=(q, size), name="child")
    child.start()
    child.join()                  # waits for the child, which waits for us: deadlock
    return len(q.get())
