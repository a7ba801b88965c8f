"""05_queues: drain, offer, collect with real queues, items that arrive late, falsy items and big results."""
from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.queues
import os
import tempfile
import time

from . import Violation, join_all, oracle, pause

EXERCISES = ("drain", "offer", "collect")

FALSY = [None, 0, "", b"", [], 0.0, False]


def _item(rng, i: int):
    return rng.choice(FALSY) if rng.random() < 0.4 else rng.choice([i, f"item-{i}", (i, "x"), {"i": i}])


def _feed(q, items, gaps) -> None:
    for item, gap in zip(items, gaps):
        time.sleep(gap)
        q.put(item)


@oracle("drain", timeout=20)
def drain_trial(student, rng) -> None:
    q = multiprocessing.Queue()
    timeout = rng.uniform(0.4, 1.0)
    items = [_item(rng, i) for i in range(rng.choice([0, 1, 3, 8, 16]))]
    waiting = rng.randint(0, len(items))                    # already in the queue when drain starts
    for item in items[:waiting]:
        q.put(item)
    time.sleep(0.05)
    gaps = [rng.uniform(0, timeout * 0.4) for _ in items[waiting:]]     # each well within timeout
    feeder = multiprocessing.Process(target=_feed, args=(q, items[waiting:], gaps))
    began = time.monotonic()
    feeder.start()
    got = student.drain(q, timeout)
    took = time.monotonic() - began
    join_all([feeder], 5, "the feeder")
    setting = f"{len(items)} items ({waiting} waiting, gaps up to {timeout * 0.4:.2f} s), timeout {timeout:.2f} s"
    if not isinstance(got, list) or got != items:
        raise Violation("wrong items", f"{setting}: got {got!r}, expected {items!r}")
    if took > sum(gaps) + timeout + 3:
        raise Violation("waits too long", f"{setting}: returned after {took:.1f} s")


class JitterQueue(multiprocessing.queues.Queue):
    """A real queue whose look-before-you-leap answers (full, empty, qsize) take a random while to act on."""

    def __init__(self, maxsize: int, jitter: float):
        super().__init__(maxsize, ctx=multiprocessing.get_context())
        self.jitter = jitter

    def __getstate__(self):
        return (*super().__getstate__(), self.jitter)

    def __setstate__(self, state):
        super().__setstate__(state[:-1])
        self.jitter = state[-1]

    def full(self):
        answer = super().full()
        pause(self.jitter)
        return answer

    def empty(self):
        answer = super().empty()
        pause(self.jitter)
        return answer

    def qsize(self):
        answer = super().qsize()
        pause(self.jitter)
        return answer


def _offer_racer(offer, q, item, barrier, answers, i) -> None:
    barrier.wait()
    answers[i] = {True: 1, False: 0}.get(offer(q, item), 2)


@oracle("offer", timeout=15)
def offer_trial(student, rng) -> None:
    size = rng.randint(1, 4)
    q = JitterQueue(size, rng.choice([0.0, 0.01]))
    items = [_item(rng, i) for i in range(size + rng.randint(1, 3))]
    answers = []
    for item in items:
        began = time.monotonic()
        answer = student.offer(q, item)
        if time.monotonic() - began > 0.5:
            raise Violation("blocks", f"offer took {time.monotonic() - began:.1f} s on a queue of {size}")
        answers.append(answer)
    expected = [True] * size + [False] * (len(items) - size)
    if answers != expected or any(type(a) is not bool for a in answers):
        raise Violation("wrong answers", f"a queue of {size}, {len(items)} offers: {answers}, expected {expected}")
    taken = [q.get(timeout=2) for _ in range(size)]
    if taken != items[:size]:
        raise Violation("wrong items in the queue", f"{taken!r}, expected {items[:size]!r}")
    # racers: two to four processes offer into the last free place at once
    q = JitterQueue(1, 0.05)
    racers = rng.randint(2, 4)
    barrier, out = multiprocessing.Barrier(racers), multiprocessing.RawArray("i", [-1] * racers)
    procs = [multiprocessing.Process(target=_offer_racer, args=(student.offer, q, i, barrier, out, i))
             for i in range(racers)]
    for p in procs:
        p.start()
    join_all(procs, 5, "racing offers (one blocked on a full queue?)")
    if sorted(out) != [0] * (racers - 1) + [1]:
        raise Violation("wrong answers when racing", f"{racers} offers into one free place: {list(out)}")


def put_result(q, i: int, size: int, before: float, after: float) -> None:
    """A target: wait, put one result (``size`` bytes), then linger a while before exiting."""
    time.sleep(before)
    q.put((i, os.getpid(), bytes([i % 256]) * size))
    time.sleep(after)


@oracle("collect", timeout=20, leftovers=True)
def collect_trial(student, rng) -> None:
    n = rng.randint(1, 5)
    sizes = [rng.choice([0, 10, 70_000, 1_000_000, 2_500_000]) for _ in range(n)]
    plan = {i: (sizes[i], rng.uniform(0, 0.2), rng.uniform(0, 0.3)) for i in range(n)}
    with tempfile.TemporaryDirectory(prefix="collect-calls-") as calls_folder:
        got = student.collect(_Target(plan, calls_folder), n)
        calls = collections.Counter(name.rpartition("-")[0] for name in os.listdir(calls_folder))
    if calls != collections.Counter(str(i) for i in range(n)):
        raise Violation("target not called once per i in range(n)", f"n={n}: calls per i {dict(sorted(calls.items()))}")
    if not isinstance(got, list) or len(got) != n:
        raise Violation("wrong results", f"{n} processes: got {type(got).__name__} of "
                        f"{len(got) if hasattr(got, '__len__') else '?'}")
    if sorted((i, len(data)) for i, _pid, data in got) != [(i, sizes[i]) for i in range(n)]:
        raise Violation("wrong results", f"{n} processes of sizes {sizes}")
    if any(pid == os.getpid() for _i, pid, _data in got):
        raise Violation("runs a target in the caller", "")


class _Target:
    """target(q, i) with a size and delays chosen by the trial (callable, picklable by reference under fork)."""

    def __init__(self, plan, calls_folder: str):
        self.plan = plan
        self.calls_folder = calls_folder

    def __call__(self, q, i):
        name = f"{str(i)[:40].replace(os.sep, '_')}-{os.getpid()}"
        open(os.path.join(self.calls_folder, name), "w").close()          # the trial counts the calls per i
        if i not in self.plan:
            return
        size, before, after = self.plan[i]
        put_result(q, i, size, before, after)
