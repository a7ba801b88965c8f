"""06_producer_consumer: run_pipeline and run_joinable with pausing producers, slow transforms and big results."""
from __future__ import annotations

import collections
import contextlib
import multiprocessing
import multiprocessing.process
import multiprocessing.util
import os
import time

from . import Violation, oracle, pause

EXERCISES = ("pipeline", "joinable_pipeline")

_board = None


class _Board:
    """Shared counters of a trial: items handed out by batches, transforms started, the largest backlog."""

    def __init__(self):
        self.yielded = multiprocessing.RawValue("i", 0)
        self.started = multiprocessing.RawValue("i", 0)
        self.backlog = multiprocessing.RawValue("i", 0)
        self.first_transform = multiprocessing.RawValue("d", 0)
        self.last_batch_end = multiprocessing.RawValue("d", 0)
        self.in_caller = multiprocessing.RawValue("i", 0)
        self.caller = os.getpid()
        self.mutex = multiprocessing.Lock()
        self.jitter = 0.0
        self.big = True                 # pipeline: "transform may return large results"; joinable: not said
        self.slow_exit = 0.0            # seconds a consumer takes to end after its work (0: at once)
        self.slow_exit_in: set = set()  # the pids that will take that long
        self.slow_send = 0.0            # seconds a result takes to be sent on (pickled in a queue's feeder thread)


class Batch(list):
    """A producer's items; iterating pauses before some of them (producers may pause for seconds)."""

    def __init__(self, items, pauses):
        super().__init__(items)
        self.pauses = pauses

    def __iter__(self):
        board = _board
        if os.getpid() == board.caller:          # copied in the caller (list(batch)): not a producer's pace
            yield from list.__iter__(self)
            return
        for item, wait in zip(list.__iter__(self), self.pauses):
            time.sleep(wait)
            with board.mutex:
                board.yielded.value += 1
                board.backlog.value = max(board.backlog.value, board.yielded.value - board.started.value)
            yield item
        with board.mutex:
            board.last_batch_end.value = max(board.last_batch_end.value, time.monotonic())


def transform(item):
    """The transform handed in: slow-ish, sometimes a big result, records when it ran and where."""
    board = _board
    with board.mutex:
        board.started.value += 1
        if not board.first_transform.value:
            board.first_transform.value = time.monotonic()
        if os.getpid() == board.caller:
            board.in_caller.value = 1
    if board.slow_exit and os.getpid() != board.caller and os.getpid() not in board.slow_exit_in:
        board.slow_exit_in.add(os.getpid())            # this consumer is slow to end: a caller must join it
        multiprocessing.util.Finalize(None, time.sleep, args=(board.slow_exit,), exitpriority=-100)
    pause(board.jitter)
    data = b"r" * _size(item, board.big)
    return (repr(item), _SlowToSend(data) if board.slow_send else data)


class _SlowToSend(bytes):
    """A result that takes a while to be sent on: it may still be in flight after its consumer's task_done()."""

    def __reduce__(self):
        time.sleep(_board.slow_send)
        return bytes, (bytes(self),)


def _size(item, big: bool) -> int:
    return 300_000 if big and isinstance(item, int) and item % 7 == 3 else 8


def _items(rng, start: int, count: int) -> list:
    return [rng.choice([0, "", False, b""]) if rng.random() < 0.2 else start + k for k in range(count)]


@contextlib.contextmanager
def _counting_starts():
    """Count the processes the caller starts, and note whether each was a daemon."""
    started: list[bool] = []
    original = multiprocessing.process.BaseProcess.start

    def start(self):
        if getattr(getattr(self, "_target", None), "__name__", "") != "_run_server":     # a Manager's server
            started.append(bool(self.daemon))
        return original(self)

    multiprocessing.process.BaseProcess.start = start
    try:
        yield started
    finally:
        multiprocessing.process.BaseProcess.start = original


def _never_joined() -> int:
    """The caller's children that ended and were never waited for: zombies (trials run under fork).

    The contract says to join every process; one never joined has ended only by luck of timing
    (the spec's "terminate() without join()").
    """
    import psutil

    count = 0
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            count += child.status() == psutil.STATUS_ZOMBIE
    return count


def _expected(items, big: bool = True) -> collections.Counter:
    return collections.Counter((repr(i), _size(i, big)) for i in items)


def _results(got) -> collections.Counter:
    try:
        return collections.Counter((r, len(b)) for r, b in got)
    except (TypeError, ValueError):
        raise Violation("wrong results", f"got {str(got)[:200]}") from None


@oracle("pipeline", timeout=30, leftovers=True)
def pipeline_trial(student, rng) -> None:
    global _board
    _board = _Board()
    _board.jitter = rng.choice([0.002, 0.01, 0.03, 0.5])      # 0.5: consumers slow enough to keep the queue full
    _board.slow_exit = rng.choice([0.0, 0.3])
    _board.slow_send = rng.choice([0.0, 0.0, 0.15])
    n_batches, n_consumers, maxsize = rng.randint(1, 4), rng.randint(1, 4), rng.randint(1, 3)
    batches, start = [], 0
    long_pause = rng.random() < 0.4
    for b in range(n_batches):
        items = _items(rng, start, rng.choice([0, 1, 4, 10]))
        start += 100
        pauses = [rng.uniform(0, 0.01) for _ in items]
        if long_pause and b == 0 and len(items) >= 2:
            pauses[len(items) // 2] = rng.uniform(0.4, 2.0)
        batches.append(Batch(items, pauses))
    with _counting_starts() as started:
        got = student.run_pipeline(batches, n_consumers, transform, maxsize)
    unjoined = _never_joined()
    everything = [i for batch in batches for i in list.__iter__(batch)]
    setting = (f"{n_batches} batches of {[len(b) for b in batches]} items, {n_consumers} consumers, "
               f"maxsize {maxsize}")
    if not isinstance(got, list) or _results(got) != _expected(everything):
        raise Violation("loses or duplicates results", f"{setting}: {len(got) if isinstance(got, list) else got!r} "
                        f"results for {len(everything)} items")
    if _board.in_caller.value:
        raise Violation("transforms in the caller", setting)
    if len(started) != n_batches + n_consumers:
        raise Violation("wrong number of processes", f"{setting}: started {len(started)}, expected "
                        f"{n_batches} producers + {n_consumers} consumers")
    if n_consumers == 1:
        order = [r for r, _b in got]
        for batch in batches:
            mine = [repr(i) for i in list.__iter__(batch) if isinstance(i, int) and not isinstance(i, bool)]
            if [r for r in order if r in mine] != mine:
                raise Violation("a batch out of order", f"{setting}: one consumer saw a batch's items reordered")
    if long_pause and len(batches[0]) >= 2 and _board.last_batch_end.value \
            and _board.first_transform.value > _board.last_batch_end.value:
        raise Violation("consumers wait for the producers", f"{setting}: the first transform began only after "
                        "every producer had finished (a producer paused)")
    if unjoined:
        raise Violation("returns without joining", f"{setting}: {unjoined} process(es) ended but never joined")
    bound = maxsize + n_batches + n_consumers + 1
    if _board.backlog.value > bound:
        raise Violation("no back-pressure", f"{setting}: {_board.backlog.value} items were produced and not yet "
                        f"consumed at once (a Queue({maxsize}) allows about {bound})")


class Paced(list):
    """The caller's items: its first pass over them pauses once (a caller may be slow to put its items)."""

    def __init__(self, items, pause_at: int, seconds: float):
        super().__init__(items)
        self.pause_at, self.seconds, self.passes = pause_at, seconds, 0

    def __iter__(self):
        self.passes += 1
        for k, item in enumerate(list.__iter__(self)):
            if self.passes == 1 and k == self.pause_at:
                time.sleep(self.seconds)
            yield item


@oracle("joinable_pipeline", timeout=25, leftovers=True)
def joinable_trial(student, rng) -> None:
    global _board
    _board = _Board()
    _board.jitter = rng.choice([0.002, 0.01, 0.05])
    _board.big = False
    _board.slow_send = rng.choice([0.0, 0.15])
    items = _items(rng, 1, rng.choice([0, 1, 5, 20]))
    n_consumers = rng.randint(1, 4)
    slow_caller = rng.random() < 0.5 and len(items) >= 2
    if slow_caller:                         # long enough for consumers started by spawn to run out of items
        items = Paced(items, len(items) // 2, rng.uniform(1.0, 2.0))
    with _counting_starts() as started:
        got = student.run_joinable(items, n_consumers, transform)
    unjoined = _never_joined()
    setting = f"{len(items)} items, {n_consumers} consumers" + (", the caller pauses once" if slow_caller else "")
    if not isinstance(got, list) or _results(got) != _expected(items, big=False):
        raise Violation("loses or duplicates results", f"{setting}: {len(got) if isinstance(got, list) else got!r} "
                        "results")
    if _board.in_caller.value:
        raise Violation("transforms in the caller", setting)
    if len(started) != n_consumers:
        raise Violation("wrong number of consumers", f"{setting}: started {len(started)} processes")
    if not all(started):
        raise Violation("consumers are not daemons", f"{setting}: daemon flags of the processes started "
                        f"{started}")
    if unjoined:
        raise Violation("returns without joining", f"{setting}: {unjoined} consumer(s) ended but never joined")
