"""Checks for assignment 05_queues: drain, offer, collect.

* ``drain`` gets a real ``multiprocessing`` queue that notes each call made on it
  (``WatchedQueue``). A producer process puts the next item only *after* drain has
  looked at the queue again following the previous item, and then waits a while: a
  ``while not q.empty()`` loop sees an empty queue every time, while
  ``q.get(timeout=...)`` is still waiting when the item comes.
* ``offer`` is called on a full queue in a thread with a deadline (a blocking ``put``
  never returns); then two processes offer into the last free place at the same time,
  with ``full()``/``qsize()`` pausing until both have looked (as in ``mpcourse.shared``),
  so a check-then-put blocks one of them every time.
* ``collect`` gets targets that put megabyte-sized results: a child cannot exit until
  its result has been read, so joining before taking the results deadlocks every time.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
from multiprocessing.queues import Queue as _Queue

from .._old_shared import Arena, current_slot, run_participants
from ..timeline import Timeline
from . import Verdict, check, failed, passed


def call_with_limit(func, args, limit: float, give_up=None):
    """Run ``func(*args)`` in a daemon thread; (finished, result, elapsed). Exceptions propagate.

    ``give_up()``, polled while the call runs, may end the wait early (it found a deadlock).
    """
    box: dict = {}

    def run():
        start = time.perf_counter()
        try:
            box["result"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the judge)
            box["error"] = exc
        box["elapsed"] = time.perf_counter() - start

    thread = threading.Thread(target=run, name="student call", daemon=True)
    thread.start()
    deadline = time.monotonic() + limit
    while thread.is_alive() and time.monotonic() < deadline:
        thread.join(0.05)
        if give_up is not None and thread.is_alive() and give_up():
            break
    if thread.is_alive():
        return False, None, limit
    if "error" in box:
        raise box["error"]
    return True, box["result"], box["elapsed"]


# ------------------------------------------------------------------- a watched queue

class WatchedQueue(_Queue):
    """A real ``multiprocessing.Queue`` that records the calls made on it.

    ``taken`` counts successful gets; ``looked[k]`` is set once the consumer has called
    the queue again after its k-th get (a blocking get counts as soon as it starts
    waiting; empty(), qsize(), full() and non-blocking gets count once they have
    answered). With an ``arena``, ``full()``, ``qsize()`` and ``empty()`` pause after
    answering until the other participants have looked too.
    """

    def __init__(self, maxsize: int = 0, timeline: Timeline | None = None, arena: Arena | None = None):
        ctx = multiprocessing.get_context()
        super().__init__(maxsize, ctx=ctx)
        self._watch = (timeline, arena, ctx.RawValue("i", 0), ctx.RawArray("i", 64))

    def __getstate__(self):
        return super().__getstate__(), self._watch

    def __setstate__(self, state):
        base, self._watch = state
        super().__setstate__(base)

    # -- bookkeeping --------------------------------------------------------------
    def _looked(self, what: str) -> None:
        timeline, _arena, taken, looked = self._watch
        looked[min(taken.value, len(looked) - 1)] = 1
        if timeline is not None and what:
            timeline.mark(what)

    def _pause(self) -> None:
        arena = self._watch[1]
        if arena is not None and current_slot() is not None:
            arena.pause()

    @property
    def taken(self) -> int:
        return self._watch[2].value

    def looked_after(self, k: int) -> bool:
        looked = self._watch[3]
        return bool(looked[min(k, len(looked) - 1)])

    # -- the queue API ----------------------------------------------------------
    def get(self, block: bool = True, timeout: float | None = None):
        timeline = self._watch[0]
        waits = block and (timeout is None or timeout > 0)
        if waits:
            self._looked("")
            if timeline is not None:
                timeline.state("blocked", "q.get()" if timeout is None else f"q.get(timeout={timeout:g})")
        try:
            item = super().get(block, timeout)
        except queue.Empty:
            if timeline is not None:
                timeline.state("running")
                timeline.mark("Empty")
            if not waits:
                self._looked("")
            raise
        if timeline is not None:
            timeline.state("running")
            timeline.mark(f"got {item!r}"[:24])
        if not waits:
            self._looked("")
        self._watch[2].value += 1
        return item

    def empty(self) -> bool:
        answer = super().empty()
        self._looked(f"empty() -> {answer}")
        self._pause()
        return answer

    def qsize(self) -> int:
        answer = super().qsize()
        self._looked(f"qsize() -> {answer}")
        self._pause()
        return answer

    def full(self) -> bool:
        answer = super().full()
        self._looked(f"full() -> {answer}")
        self._pause()
        return answer


# ---------------------------------------------------------------------------- drain

def _put_all_and_flush(q, items) -> None:
    """Child: put every item, then wait until they are all in the pipe (not in a buffer)."""
    for item in items:
        q.put(item)
    q.close()
    q.join_thread()


def _put_late(q: WatchedQueue, items, gap: float, ready, timeline: Timeline) -> None:
    """Child: put each item ``gap`` s after the consumer has looked at the queue again.

    The consumer looks (an empty(), a get...) after it took the previous item, and the
    next item is never there at that moment: a loop that stops when the queue looks
    empty stops here every time, while a get with a timeout is still waiting.
    """
    timeline.state("running", "producer")
    ready.set()
    for k, item in enumerate(items):
        deadline = time.monotonic() + 5
        while not q.looked_after(k) and time.monotonic() < deadline:
            time.sleep(0.001)
        timeline.state("sleeping")
        time.sleep(gap)
        timeline.state("running")
        q.put(item)
        timeline.mark(f"put {item!r}")
    timeline.state("exited")
    q.close()
    q.join_thread()


def _drain_verdict_empty(drain, timeout: float) -> Verdict:
    q = multiprocessing.get_context().Queue()
    finished, got, elapsed = call_with_limit(drain, (q, timeout), timeout + 3)
    call = f"drain(q, {timeout:g}) on an empty queue"
    if not finished:
        return failed(f"{call} did not return within {timeout + 3:g} s: a get() without a timeout waits "
                      "forever; use q.get(timeout=timeout) and stop when it raises queue.Empty.")
    if got != []:
        return failed(f"{call} returned {got!r}, expected [].")
    if elapsed < timeout * 0.8:
        return failed(f"{call} returned after {elapsed:.2f} s: an item could still have come, so wait up to "
                      "`timeout` s for one, with q.get(timeout=timeout).")
    return None


@check(timeout=15, label="drain")
def check_drain_takes_waiting_items(drain) -> Verdict:
    """Three items already in the queue come back in order; an empty queue gives [] after about `timeout`."""
    ctx = multiprocessing.get_context()
    q = ctx.Queue()
    items = ["first", 2, ("third", 3)]
    producer = ctx.Process(target=_put_all_and_flush, args=(q, items), name="producer")
    producer.start()
    producer.join(10)
    timeout = 0.3
    finished, got, elapsed = call_with_limit(drain, (q, timeout), timeout + 3)
    if not finished:
        return failed(f"drain(q, {timeout:g}) did not return within {timeout + 3:g} s after taking the items "
                      "waiting in the queue: a get() without a timeout waits forever on an empty queue; use "
                      "q.get(timeout=timeout) and stop when it raises queue.Empty.")
    if got != items:
        return failed(f"drain(q, {timeout:g}) returned {got!r}, expected the items in arrival order {items!r}.")
    return _drain_verdict_empty(drain, timeout) or passed()


@check(timeout=15, label="drain")
def check_drain_waits_for_late_items(drain) -> Verdict:
    """Items arrive one by one, each sooner than `timeout` after the previous one: drain returns them all."""
    timeline = Timeline()
    timeout, gap = 0.6, 0.15
    items = ["a", "b", "c", "d"]
    q = WatchedQueue(timeline=timeline)
    ctx = multiprocessing.get_context()
    ready = ctx.Event()
    producer = ctx.Process(target=_put_late, args=(q, items, gap, ready, timeline), name="producer", daemon=True)
    producer.start()
    ready.wait(10)
    timeline.state("running", "drain")
    limit = len(items) * gap + timeout + 3
    finished, got, elapsed = call_with_limit(drain, (q, timeout), limit)
    timeline.state("exited", "drain returned")
    producer.join(gap + 1)           # it waits for drain to look again, which may never happen
    if producer.is_alive():
        producer.kill()
        producer.join(1)
    call = f"drain(q, {timeout:g})"
    if not finished:
        return failed(f"{call} did not return within {limit:g} s although the last item came long before: use "
                      "q.get(timeout=timeout) and stop when it raises queue.Empty.")
    if got == items:
        if elapsed > len(items) * gap + timeout + 2:
            return failed(f"{call} took {elapsed:.1f} s to return after the last item: stop once no item came "
                          "within `timeout` s.")
        return passed()
    if not isinstance(got, list) or got != items[:len(got)]:
        return failed(f"{call} returned {got!r}; the items arrived in the order {items!r}: return them in that "
                      "order.")
    missed = items[len(got)]
    events = timeline.events()
    returned = max((e.t for e in events if e.kind == "state" and e.what == "exited" and e.detail == "drain returned"),
                   default=None)
    put_at = next((e.t for e in events if e.kind == "mark" and e.what == f"put {missed!r}"), None)
    highlight = [(returned, put_at)] if returned and put_at and put_at > returned else []
    looked = [e.what for e in events if e.kind == "mark" and (e.what.startswith(("empty()", "qsize()", "full()")))]
    if looked:
        why = (f"{call} returned {got!r} and missed {missed!r}, which arrived {gap:g} s after drain looked "
               f"(sooner than timeout={timeout:g} s): q.empty()/qsize() only say what is in the queue right now, "
               "so wait with q.get(timeout=timeout) and stop when it raises queue.Empty.")
    else:
        why = (f"{call} returned {got!r} and missed {missed!r}, which arrived {gap:g} s after drain looked for it "
               f"(sooner than timeout={timeout:g} s): wait up to `timeout` s for each next item, "
               "with q.get(timeout=timeout), and stop only when that raises queue.Empty.")
    return failed(why, timeline, highlight, title="drain: an item arrived after drain had returned")


# ---------------------------------------------------------------------------- offer

def _offer_into(offer, q, item, results) -> None:
    results.put((item, offer(q, item)))


@check(timeout=15, label="offer")
def check_offer_once(offer) -> Verdict:
    """A queue of two places: two offers succeed, the third returns False at once; after a get, room again."""
    q = multiprocessing.get_context().Queue(maxsize=2)
    steps = [("a", True), ("b", True), ("c", False)]
    for item, want in steps:
        finished, got, elapsed = call_with_limit(offer, (q, item), 3)
        if not finished:
            return failed(f"offer(q, {item!r}) on a full queue did not return within 3 s: q.put(item) waits until "
                          "there is room; use q.put(item, block=False) (or q.put_nowait) and return False when "
                          "it raises queue.Full.")
        if got is not want:
            state = "full" if not want else "not full"
            return failed(f"offer(q, {item!r}) on a {state} queue returned {got!r}, expected {want}.")
        if not want and elapsed > 0.3:
            return failed(f"offer(q, {item!r}) waited {elapsed:.2f} s on a full queue before giving up: put with "
                          "block=False so that it returns False at once.")
    first = q.get(timeout=2)
    finished, got, _ = call_with_limit(offer, (q, "d"), 3)
    if not finished or got is not True:
        return failed(f"after one item was taken from the full queue, offer(q, 'd') returned {got!r}, expected True.")
    rest = [q.get(timeout=2) for _ in range(2)]
    if [first, *rest] != ["a", "b", "d"]:
        return failed(f"the queue held {[first, *rest]!r} after the offers, expected ['a', 'b', 'd'].")
    return passed()


@check(timeout=15, label="offer")
def check_offer_never_blocks_when_racing(offer) -> Verdict:
    """Two processes offer into the last free place at the same time: one True, one False, nobody waits."""
    ctx = multiprocessing.get_context()
    arena = Arena(2, patience=1.0)
    q = WatchedQueue(maxsize=2, timeline=arena.timeline, arena=arena)
    q.put("already there")
    results = ctx.SimpleQueue()
    try:
        run_participants(arena, _offer_into, [(offer, q, "x", results), (offer, q, "y", results)], timeout=3,
                         name="offer")
    except TimeoutError:
        looked = any(e.kind == "mark" and e.what.startswith(("full()", "qsize()", "empty()"))
                     for e in arena.timeline.events())
        if looked:
            why = ("two processes offered into the last free place at the same time: both saw room with "
                   "q.full()/q.qsize(), both put, and one waited forever; the queue can fill between the check and "
                   "the put, so put with block=False and return False when it raises queue.Full.")
        else:
            why = ("two processes offered into the last free place at the same time and one waited forever in "
                   "put: use q.put(item, block=False) and return False when it raises queue.Full.")
        return failed(why, arena.timeline, title="offer: a put that waits for room")
    answers = {}
    while not results.empty():
        item, ok = results.get()
        answers[item] = ok
    if sorted(map(repr, answers.values())) != ["False", "True"]:
        return failed(f"two processes offered into the last free place at the same time and got {answers}: "
                      "exactly one should get True and the other False.")
    inside = [q.get(timeout=2) for _ in range(2)]
    winner = next(item for item, ok in answers.items() if ok)
    if inside != ["already there", winner]:
        return failed(f"after the racing offers the queue held {inside!r}, expected ['already there', {winner!r}].")
    return passed()


# -------------------------------------------------------------------------- collect

RESULT_BYTES = 1 << 20      # a megabyte: far more than a pipe holds, so a child cannot exit until it is read
LINGER = 0.5                # s a target stays alive after putting its result


def _payload(i: int) -> bytes:
    return bytes([i % 251]) * RESULT_BYTES


def big_result(folder: str, q, i: int) -> None:
    """The target handed to collect: put (i, one megabyte), then stay alive a little."""
    timeline = Timeline(folder)
    timeline.state("running", f"target(q, {i})")
    payload = _payload(i)
    timeline.mark("put", f"result {i}")
    q.put((i, payload))
    time.sleep(LINGER)
    timeline.state("blocked", "exiting: waits until its result has been read")


def small_result(folder: str, q, i: int) -> None:
    """A target with a small result: put (i, i * i)."""
    timeline = Timeline(folder)
    timeline.state("running", f"target(q, {i})")
    timeline.mark("put", f"result {i}")
    q.put((i, i * i))
    time.sleep(LINGER)
    timeline.state("blocked", "exiting")


STUCK_FOR = 1.5            # s a child may sit finished but unable to exit before collect counts as deadlocked


def _stuck_exiting(timeline: Timeline, for_at_least: float) -> list[int]:
    """Children that finished their target at least ``for_at_least`` s ago and are still alive."""
    now = time.perf_counter()
    return [e.pid for e in timeline.events()
            if e.kind == "state" and e.what == "blocked" and e.detail.startswith("exiting")
            and now - e.t >= for_at_least and _alive(e.pid)]


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _judge_collect(collect, target_function, n: int, expected, limit: float) -> Verdict:
    import functools

    timeline = Timeline()
    target = functools.partial(target_function, timeline.folder)
    timeline.state("running", "collect")
    finished, got, elapsed = call_with_limit(collect, (target, n), limit,
                                             give_up=lambda: bool(_stuck_exiting(timeline, STUCK_FOR)))
    timeline.state("exited", "collect returned")
    events = timeline.events()
    puts = [e.pid for e in events if e.kind == "mark" and e.what == "put"]
    me = os.getpid()
    call = f"collect(target, {n})"
    if not finished:
        stuck = _stuck_exiting(timeline, 0.0)
        if stuck:
            return failed(f"{call} joined the children before taking their results: a child cannot exit until "
                          "its large result is read, so take every result first (q.get() n times), then join.",
                          timeline, title="collect: the children cannot exit, the parent waits for them")
        return failed(f"{call} did not return within {limit:g} s although {len(puts)} of {n} children had put their "
                      "result: take exactly n results from the queue, then join every process.", timeline)
    if me in puts:
        return failed(f"{call} ran target in the calling process: start one Process(target=target, args=(q, i)) "
                      "for each i.")
    if len(puts) != n:
        return failed(f"{call} ran target {len(puts)} times, expected once for each of the {n} values of i.")
    running = [pid for pid in set(puts) if _alive(pid)]
    if running:
        return failed(f"{call} returned while {len(running)} of its {n} processes were still running: join every "
                      "process after taking the results.", timeline, title="collect: children left running")
    if not isinstance(got, list):
        return failed(f"{call} returned a {type(got).__name__}, expected a list of the {n} results.")
    if len(got) != n:
        return failed(f"{call} returned {len(got)} results, expected {n} (one per process).")
    try:
        ordered = sorted(got, key=lambda r: r[0])
    except Exception:
        return failed(f"{call} returned something other than the results the targets put: return each result "
                      "exactly as q.get() gives it.")
    if [r[0] for r in ordered] != list(range(n)) or any(r != expected(r[0]) for r in ordered):
        return failed(f"{call} did not return each process's result exactly once: return what q.get() gives, "
                      "one result per process, in any order.")
    return passed()


@check(timeout=15, label="collect")
def check_collect_small(collect) -> Verdict:
    """Three processes with small results: all three come back (any order), no process left running."""
    return _judge_collect(collect, small_result, 3, lambda i: (i, i * i), 8)


@check(timeout=20, label="collect")
def check_collect_large_results(collect) -> Verdict:
    """Four processes put a megabyte each: all come back, nothing deadlocks, no process left running."""
    return _judge_collect(collect, big_result, 4, lambda i: (i, _payload(i)), 8)
