"""Checks for assignment 05_queues: drain, offer, collect.

The judge never calls the student's code: it runs in the stage (``mpcourse.stage``), and
every verdict rests on what the judge holds or sees itself.

Test plan (COURSE_SPEC.md's contract, dimension by dimension):

``drain(q, timeout)`` — ``q`` is a queue that lives in the judge (``JudgeQueue``; the stage
sees a proxy with ``multiprocessing.Queue``'s API), so the judge decides exactly when each
item becomes visible and times every ``get(timeout=...)`` with its own clock.
  * timing: items arrive one by one, each a moment *after* drain has looked at the queue
    again (``empty()``, ``qsize()``, a ``get``): a ``while not q.empty()`` loop, a
    ``get_nowait`` loop, a ``qsize()`` loop see an empty queue every time, while
    ``q.get(timeout=timeout)`` is still waiting when the item comes
    (``check_drain_waits_for_late_items``, the visible test); items keep coming for longer
    than ``timeout`` in total (one deadline for the whole drain is cut off), then one comes
    only after ``2 * timeout`` and must not be taken (``check_drain_gets_every_item``);
  * values: ``None``, ``0``, ``""``, a tuple, bytes (64 KB) and a dict among the items, in
    arrival order, compared by type and value (a ``while item := q.get()`` or a ``None``
    sentinel stops early);
  * sizes: three items already waiting; an empty queue gives ``[]`` after about ``timeout``
    (not at once, not much later); a ``get()`` without a timeout on an empty queue with
    nothing left to come is seen by the judge at once and reported with its line.
``offer(q, item)`` — ``q`` is a ``JudgeQueue`` with a ``maxsize``.
  * values and sizes: two offers into two places return True, the third False *at once*;
    after the judge takes one, there is room again; the queue holds exactly the offered
    items, ``None`` and ``0`` included (``check_offer_once``);
  * concurrency: two (then three) processes offer into the last free place at once; a
    ``full()``/``qsize()``/``empty()`` answer pauses until the others have looked too, so a
    check-then-put always finds the place taken (``check_offer_never_blocks_when_racing``,
    the visible test);
  * timing: a ``put`` that may wait on a full queue (no ``block=False``, a timeout) is seen
    by the judge when it arrives: no waiting for it to expire.
``collect(target, n)`` — ``target`` is a course object: it reports to the judge (kernel pid)
when it starts putting and when its ``put`` returned, and the judge then holds it alive
until ``collect`` returns or is plainly waiting for it.
  * sizes: 3 small results, then 4 results of a megabyte each, more than a pipe holds, so a
    child cannot exit before its result is read: joining first deadlocks every time and is
    reported with where ``collect`` is stuck (``check_collect_large_results``, the visible test).
    A deadlock is what the OS shows: collect's thread and every child blocked in the kernel
    for 1.5 s, none held by the judge (a caller starved of CPU is runnable, not blocked);
  * timing: the judge holds each child after its put until collect is plainly waiting (no
    progress for 1 s), so a collect that never joins returns while a child is held; it then
    lets them go one at a time, by i, lowest first with small results and highest first with
    large ones, so joining only the first process, or all but the first, returns while one is
    held every run; in ``check_collect_small`` target(q, 1) waits 2 s before its put, so a
    ``q.get(timeout=...)`` shorter than that gives up every run;
  * structure: one run of ``target`` per ``i``, never in the caller; results exactly the ones
    put, each once (any order);
  * leftovers: a child the judge still holds when ``collect`` returns is a process left
    running; afterwards the OS's list of the stage's processes must show none of
    the student's (``subprocess`` children and new sessions included) (both checks).
Leftovers everywhere: the stage, and every process the student's code started, is killed
after each check.
"""
from __future__ import annotations

import threading
import time
from collections import deque

from ..judge import JudgeObject, Refusal
from ..stage import Proxy, register_proxy
from . import (
    Verdict, _CallerClock, _thread_folder, _thread_state, _thread_waits_for, _thread_wchan, check, failed, passed,
)

# =====================================================================================
# a queue that lives in the judge
# =====================================================================================


@register_proxy
class CourseQueue(Proxy):
    """A queue held by the judge, with ``multiprocessing.Queue``'s API (``queue.Empty``/``queue.Full`` included)."""

    kind = "judge-queue"

    def put(self, obj, block: bool = True, timeout: float | None = None) -> None:
        self._ask("put", obj, bool(block), _seconds(timeout))

    def get(self, block: bool = True, timeout: float | None = None):
        return self._ask("get", bool(block), _seconds(timeout))

    def put_nowait(self, obj) -> None:
        self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def empty(self) -> bool:
        return bool(self._ask("empty"))

    def full(self) -> bool:
        return bool(self._ask("full"))

    def qsize(self) -> int:
        return int(self._ask("qsize"))

    def close(self) -> None:
        self._ask("close")

    def join_thread(self) -> None:
        self._ask("join_thread")

    def cancel_join_thread(self) -> None:
        self._ask("cancel_join_thread")


def _seconds(timeout) -> float | None:
    if timeout is None:
        return None
    return max(float(timeout), 0.0)


LOOKS = ("empty", "full", "qsize")
NO_WAIT = 0.05              # s: a put or get timeout this short does not count as waiting


class JudgeQueue(JudgeObject):
    """The items, who looked when, and every wait, with the judge's clock; proxies: ``CourseQueue``."""

    kind = "judge-queue"
    proxy_module = "mpcourse.checks.queues"

    def __init__(self, judge, maxsize: int = 0, items=(), arena=None, script=()):
        super().__init__(judge, "q")
        self.cv = threading.Condition()
        self.maxsize = maxsize
        self.items = deque(items)
        self.arena = arena             # offers race: a look pauses until the other offerers have looked too
        self.script = deque(script)    # (item, gap): each comes ``gap`` s after drain next looks at the queue
        self.due: tuple[float, object] | None = None       # the scripted item on its way: (when, item)
        self.taken = 0
        self.last_taken_at: float | None = None
        self.hopeless: str = ""        # a get() that can only wait forever
        self.waiting_puts: list[tuple[str, float | None, str]] = []    # (who, timeout, what they saw before)
        self.seen: dict[int, str] = {}          # the last look's answer, per process
        self.calls: list[str] = []

    # -- the judge's own hands ---------------------------------------------------------------
    def take(self):
        with self.cv:
            item = self.items.popleft()
            self.cv.notify_all()
        self.judge.record("mark", f"got {_short(item)}", name="the checker", pid=0)
        return item

    def contents(self) -> list:
        with self.cv:
            return list(self.items)

    def _full(self) -> bool:
        return 0 < self.maxsize <= len(self.items)

    @property
    def more_to_come(self) -> bool:
        return bool(self.script) or self.due is not None

    def _arrivals(self, now: float) -> None:
        """With ``cv`` held: the scripted item arrives when it is due (the judge's clock; no thread must wake)."""
        if self.due is not None and self.due[0] <= now:
            at, item = self.due
            self.due = None
            self.items.append(item)
            self.judge.record("mark", f"put {_short(item)}", name="the producer", pid=0, at=at)
            self.cv.notify_all()

    def _looked(self) -> None:
        """With ``cv`` held: drain looks at the queue; the next scripted item is sent on its way now."""
        now = time.perf_counter()
        self._arrivals(now)
        if self.due is None and self.script and not self.items:
            item, gap = self.script.popleft()
            self.due = (now + gap, item)

    # -- requests from the student's processes ---------------------------------------------
    def handle(self, peer, op: str, args: list):
        with self.cv:
            self._looked()
            self.calls.append(op)
            self.cv.notify_all()
        if op in LOOKS:
            with self.cv:
                answer = {"empty": not self.items, "full": self._full(), "qsize": len(self.items)}[op]
                self.seen[peer.host_pid or 0] = f"q.{op}() gave {answer!r}"
            self.judge.record("mark", f"{op}() -> {answer}", peer=peer)
            if self.arena is not None:
                self.arena.pause(peer)          # the answer is already given; another offerer may act first
            return answer
        if op == "get" and len(args) == 2:
            return self._get(peer, bool(args[0]), args[1])
        if op == "put" and len(args) == 3:
            return self._put(peer, args[0], bool(args[1]), args[2])
        if op in ("close", "join_thread", "cancel_join_thread"):
            return None
        raise Refusal("AttributeError", f"'Queue' object has no attribute {op!r}")

    def _get(self, peer, block: bool, timeout):
        waits = block and (timeout is None or timeout > 0)
        with self.cv:
            if not self.items and waits:
                what = "q.get()" if timeout is None else f"q.get(timeout={timeout:g})"
                self.judge.record("state", "blocked", what, peer=peer)
                deadline = None if timeout is None else time.perf_counter() + timeout
                while not self.items and not self.judge.closed:
                    now = time.perf_counter()
                    if self.due is not None and (deadline is None or self.due[0] <= deadline):
                        self._arrivals(now)
                        if not self.items:
                            self.cv.wait(min(self.due[0] - now, 0.05))
                        continue              # the item is due before this get gives up: it gets it
                    if deadline is not None and now >= deadline:
                        break
                    if timeout is None and not self.more_to_come:
                        self.hopeless = what
                        self.cv.notify_all()
                    self.cv.wait(0.05 if deadline is None else min(deadline - now, 0.05))
                self.judge.record("state", "running", peer=peer)
            if not self.items:
                self.judge.record("mark", "Empty", peer=peer)
                raise Refusal("Empty", "")
            item = self.items.popleft()
            self.taken += 1
            self.last_taken_at = time.perf_counter()
            self.cv.notify_all()
        self.judge.record("mark", f"got {_short(item)}", peer=peer)
        return item

    def _put(self, peer, item, block: bool, timeout):
        waits = block and (timeout is None or timeout > NO_WAIT)
        with self.cv:
            if self._full() and waits:
                saw = self.seen.get(peer.host_pid or 0, "")
                self.waiting_puts.append((peer.name, timeout, saw))
                self.cv.notify_all()
                self.judge.record("state", "blocked", "put (queue full)", peer=peer)
                deadline = None if timeout is None else time.monotonic() + timeout
                while self._full() and not self.judge.closed:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        break
                    self.cv.wait(0.05 if left is None else min(left, 0.05))
                self.judge.record("state", "running", peer=peer)
            elif self._full() and block and timeout:
                self.cv.wait(timeout)
            if self._full():
                self.judge.record("mark", "Full", peer=peer)
                raise Refusal("Full", "")
            self.items.append(item)
            self.cv.notify_all()
        self.judge.record("mark", f"put {_short(item)}", peer=peer)
        return None


def _wait_until(cv: threading.Condition, ready, limit: float) -> bool:
    """Wait on ``cv`` until ``ready()`` or ``limit`` s; looks again often (a call's end does not notify ``cv``)."""
    deadline = time.monotonic() + limit
    with cv:
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            cv.wait(min(left, 0.05))
    return True


def _short(item) -> str:
    text = repr(item)
    return text if len(text) <= 16 else text[:13] + "..."


def _same(a, b) -> bool:
    """Equal in type and value, all the way down (0 is not False, (1,) is not [1])."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


# =====================================================================================
# drain
# =====================================================================================

LATE_ITEMS = ["a", "b", "c", "d", "e"]
TOO_LATE = "too late"
FALSY_ITEMS = ["first", None, 0, "", ("tuple", 3), b"\x00" * 65536, {"k": [1, 2]}, "last"]
SLACK = 2.0                 # s drain may take beyond what the contract asks, on a loaded machine


def _run_drain(judge, drain, queue: JudgeQueue, timeout: float, limit: float):
    """drain(q, timeout) in the stage (the caller), until it returns, waits hopelessly, or ``limit`` passes."""
    caller = judge.stage_peer.pid if judge.stage_peer else -2
    judge.record("state", "running", f"drain(q, {timeout:g})", name="drain (the caller)", pid=caller)
    call = judge.call(drain, queue, timeout, name="drain")
    _wait_until(queue.cv, lambda: call.finished.is_set() or bool(queue.hopeless) or judge.closed, limit)
    call.wait(0)
    if call.finished.is_set():
        judge.record("state", "exited", "drain returned", name="drain (the caller)", pid=caller, at=call.ended)
    return call


def _hangs(judge, queue: JudgeQueue, call, what: str, limit: float) -> Verdict:
    where = "; ".join(judge.stacks()) or "no process said where it was"
    if queue.hopeless:
        return failed("drain/blocking-get", f"{what} called {queue.hopeless} on an empty queue with nothing more to "
                      f"come, which waits forever ({where}): use q.get(timeout=timeout) and stop when it raises "
                      "queue.Empty.", judge.events(), title="drain: a get that waits forever")
    return failed("drain/hangs", f"{what} did not return within {limit:g} s: {where}.", judge.events())


def _returned(call, what: str) -> tuple[list | None, Verdict | None]:
    if call.status == "raised":
        return None, failed("drain/raised", f"{what} raised {call.error()}.")
    if not isinstance(call.value, list):
        return None, failed("drain/not-a-list", f"{what} returned {_short(call.value)}, expected a list of the "
                            "items in arrival order.")
    return call.value, None


@check(timeout=20, label="drain")
def check_drain_waits_for_late_items(judge, drain) -> Verdict:
    """Items arrive one by one, each a moment after drain looked again (sooner than `timeout`): drain gets them all."""
    # a drain that polls with a deadline of its own sees an item later than the judge put it by the round trips
    # of a loaded machine: 0.6 s of margin for them, and any wait shorter than 0.4 s still misses every item
    return _judge_late_items(judge, drain, LATE_ITEMS, timeout=1.0, gap=0.4, then_late=None)


@check(timeout=30, label="drain")
def check_drain_gets_every_item(judge, drain) -> Verdict:
    """Falsy items already waiting, an empty queue, then late falsy items over more than `timeout`, and one too late."""
    timeout = 0.4
    queue = JudgeQueue(judge, items=FALSY_ITEMS)
    what = f"drain(q, {timeout:g}) with {len(FALSY_ITEMS)} items waiting"
    call = _run_drain(judge, drain, queue, timeout, timeout + 3 * SLACK)
    if not call.finished.is_set():
        return _hangs(judge, queue, call, what, timeout + 3 * SLACK)
    got, bad = _returned(call, what)
    if bad:
        return bad
    if not _same(got, FALSY_ITEMS):
        return _wrong_items(what, got, FALSY_ITEMS, queue.taken)
    waited = call.ended - (queue.last_taken_at or call.started)
    if waited < 0.8 * timeout:
        return failed("drain/no-wait", f"{what} returned {waited:.2f} s after taking the last item: another item "
                      f"could still have come within timeout={timeout:g} s, so wait for it with "
                      "q.get(timeout=timeout).")
    empty = JudgeQueue(judge)
    what = f"drain(q, {timeout:g}) on an empty queue"
    call = _run_drain(judge, drain, empty, timeout, timeout + SLACK)
    if not call.finished.is_set():
        return _hangs(judge, empty, call, what, timeout + SLACK)
    got, bad = _returned(call, what)
    if bad:
        return bad
    if got != []:
        return failed("drain/wrong-items", f"{what} returned {_short(got)}, expected [].")
    if call.elapsed < 0.8 * timeout:
        return failed("drain/no-wait", f"{what} returned after {call.elapsed:.2f} s: an item could still have come, "
                      "so wait up to `timeout` s for one, with q.get(timeout=timeout).")
    late = ["x", None, 0, "", "y", "z"]
    verdict = _judge_late_items(judge, drain, late, timeout=timeout, gap=timeout * 0.6, then_late=2 * timeout)
    if verdict.ok:
        verdict.summary = (f"{len(FALSY_ITEMS)} waiting items (None, 0, '' among them) in order; [] after "
                           f"{call.elapsed:.1f} s on an empty queue; late items over {len(late) * 0.6:.1f} x timeout "
                           "all taken, and it stopped before the one that came too late")
    return verdict


def _wrong_items(what: str, got: list, want: list, taken: int) -> Verdict:
    """Items missing or wrong; ``taken`` is how many drain really took from the judge's queue."""
    k = next((i for i, (a, b) in enumerate(zip(got, want)) if not _same(a, b)), min(len(got), len(want)))
    if len(got) < len(want) and k == len(got) and taken > len(got) and not want[k]:
        return failed("drain/stops-on-falsy", f"{what} returned {len(got)} of {len(want)} items and stopped at the "
                      f"item {want[k]!r}: an item may be None, 0 or '', so stop only when q.get(timeout=timeout) "
                      "raises queue.Empty, never on the item's value.")
    if len(got) < len(want) and k == len(got) and taken > len(got):
        return failed("drain/drops-items", f"{what} took {taken} items from the queue but returned only "
                      f"{len(got)}: return every item q.get() gave, in arrival order.")
    if len(got) < len(want) and k == len(got):
        return failed("drain/misses-items", f"{what} returned only the first {len(got)} of {len(want)} items while "
                      "more were waiting: keep taking until no item arrives within `timeout`.")
    shown = _short(got[k]) if k < len(got) else "nothing more"
    expected = _short(want[k]) if k < len(want) else "nothing more"
    return failed("drain/wrong-items", f"{what} returned {shown} as item {k + 1}, expected {expected}: return the "
                  "items exactly as q.get() gives them, in arrival order.")


def _judge_late_items(judge, drain, items: list, timeout: float, gap: float, then_late: float | None) -> Verdict:
    script = [(item, gap) for item in items] + ([(TOO_LATE, then_late)] if then_late else [])
    queue = JudgeQueue(judge, script=script)
    what = f"drain(q, {timeout:g})"
    limit = len(items) * (gap + timeout) + (then_late or 0) + timeout + SLACK
    call = _run_drain(judge, drain, queue, timeout, limit)
    if not call.finished.is_set():
        return _hangs(judge, queue, call, what, limit)
    with queue.cv:
        if queue.due is not None:
            queue._arrivals(queue.due[0])        # the item on its way when drain returned: draw when it came
    got, bad = _returned(call, what)
    if bad:
        return bad
    events = judge.events()
    if any(_same(item, TOO_LATE) for item in got):
        return failed("drain/waits-too-long", f"{what} also took an item that came {then_late:g} s after it last "
                      f"looked, longer than timeout={timeout:g} s: stop as soon as one q.get(timeout=timeout) raises "
                      "queue.Empty.", events, title="drain: waited longer than timeout")
    if _same(got, items):
        return passed(f"{len(items)} items that each came {gap:g} s after drain looked again were all taken, in order")
    if len(got) < len(items) and _same(got, items[:len(got)]):
        missed = items[len(got)]
        returned_at = call.ended or time.perf_counter()
        put_at = next((e.t for e in events if e.kind == "mark" and e.what == f"put {_short(missed)}"
                       and e.name == "the producer"), None)
        highlight = [(returned_at, put_at)] if put_at and put_at > returned_at else []
        looks = [op for op in queue.calls if op in LOOKS]
        if queue.taken > len(got):
            return _wrong_items(what, got, items, queue.taken)
        if looks:
            why = (f"{what} returned {len(got)} of {len(items)} items: it stopped when q.{looks[-1]}() said the queue "
                   f"was empty, but the next item ({_short(missed)}) came {gap:g} s later, sooner than "
                   f"timeout={timeout:g} s; empty()/qsize() only say what is there right now, so wait with "
                   "q.get(timeout=timeout) and stop when it raises queue.Empty.")
            mistake = "drain/while-not-empty"
        else:
            why = (f"{what} returned {len(got)} of {len(items)} items: the next item ({_short(missed)}) came {gap:g} s "
                   f"after drain looked for it, sooner than timeout={timeout:g} s; wait up to `timeout` s for each "
                   "next item with q.get(timeout=timeout), and stop only when that raises queue.Empty.")
            mistake = "drain/misses-late-items"
        return failed(mistake, why, events, highlight, title="drain: an item arrived after drain had returned")
    return _wrong_items(what, got, items, queue.taken)


# =====================================================================================
# offer
# =====================================================================================

OFFER_PATIENCE = 3.0        # s an offer may take before it counts as hanging


def _offer_waited(queue: JudgeQueue, what: str, events) -> Verdict | None:
    """A put that would wait on a full queue: the judge saw it arrive."""
    if not queue.waiting_puts:
        return None
    who, timeout, saw = queue.waiting_puts[0]
    who = "it" if who == "MainProcess" else who
    put = "q.put(item)" if timeout is None else f"q.put(item, timeout={timeout:g})"
    waits = "waits until another process makes room" if timeout is None else f"waits up to {timeout:g} s for room"
    if saw:
        return failed("offer/check-then-put", f"{what}: {who} checked first ({saw}), but another process took the "
                      f"last place before its {put}, which {waits}; the queue can fill between the check and the "
                      "put, so put with block=False and return False when it raises queue.Full.", events,
                      title="offer: the place was taken between the check and the put")
    return failed("offer/blocking-put" if timeout is None else "offer/waits", f"{what}: {who} called {put} on a "
                  f"full queue, which {waits}: use q.put(item, block=False) (or q.put_nowait(item)) and return "
                  "False when it raises queue.Full.", events, title="offer: a put that waits for room")


def _offer(judge, offer, queue: JudgeQueue, item, want: bool) -> Verdict | None:
    what = f"offer(q, {item!r}) on a {'full' if not want else 'not full'} queue"
    call = judge.call(offer, queue, item, name="offer")
    _wait_until(queue.cv, lambda: call.finished.is_set() or bool(queue.waiting_puts), OFFER_PATIENCE)
    call.wait(0)
    waited = _offer_waited(queue, what, judge.events())
    if waited:
        return waited
    if not call.finished.is_set():
        where = "; ".join(judge.stacks()) or "no process said where it was"
        return failed("offer/hangs", f"{what} did not return within {OFFER_PATIENCE:g} s: {where}.")
    if call.status == "raised":
        return failed("offer/raised", f"{what} raised {call.error()}: catch queue.Full and return False.")
    if call.value is not want:
        return failed("offer/wrong-answer", f"{what} returned {_short(call.value)}, expected {want} (the bool).")
    return None


@check(timeout=25, label="offer")
def check_offer_once(judge, offer) -> Verdict:
    """A queue of two places: two offers go in, the third returns False at once; after a get, room again."""
    queue = JudgeQueue(judge, maxsize=2)
    for item, want in (("a", True), (None, True), ("c", False)):
        bad = _offer(judge, offer, queue, item, want)
        if bad:
            return bad
    queue.take()
    for item, want in ((0, True), ("e", False)):
        bad = _offer(judge, offer, queue, item, want)
        if bad:
            return bad
    inside = queue.contents()
    if not _same(inside, [None, 0]):
        return failed("offer/wrong-items", f"after offering 'a', None, 'c', (one item taken), 0 and 'e' into a queue "
                      f"of two places, it held {_short(inside)}, expected [None, 0]: put exactly the item offered.")
    return passed("into two places: True, True, then False at once on the full queue; True again after a get; "
                  "None and 0 went in as they are")


def _race(judge, offer, offerers: int, free: int) -> Verdict:
    from ..shared import Arena

    arena = Arena(judge, offerers, patience=3.0)      # a look waits this long at most for the other offerers
    queue = JudgeQueue(judge, maxsize=2 + free, items=["already there"] * 2, arena=arena)
    items = [f"item-{k + 1}" for k in range(offerers)]
    places = "the last free place" if free == 1 else f"the last {free} free places"
    what = f"{offerers} processes offered into {places} at once"
    calls = [judge.call(offer, queue, item, mode="process", name=f"offerer-{k + 1}", slot=k)
             for k, item in enumerate(items)]
    deadline = time.monotonic() + 10 + 60      # start-up on a loaded machine, then OFFER_PATIENCE
    started = None
    with queue.cv:
        while not all(c.exited.is_set() for c in calls) and not queue.waiting_puts and not judge.lost.is_set():
            if started is None and arena.all_entered():
                started, deadline = time.monotonic(), time.monotonic() + OFFER_PATIENCE
            if time.monotonic() > deadline:
                break
            queue.cv.wait(0.05)
    for c in calls:
        if c.status == "raised":
            c.wait(0)                  # NotImplementedError: "not written yet"
    waited = _offer_waited(queue, what, judge.events())
    if waited:
        return waited
    if not all(c.finished.is_set() for c in calls):
        where = "; ".join(judge.stacks()) or "no process said where it was"
        return failed("offer/hangs", f"{what}, and not every offer returned within {OFFER_PATIENCE:g} s: {where}.")
    error = next((c for c in calls if c.status == "raised"), None)
    if error:
        return failed("offer/raised", f"{what} and offer raised {error.error()}: catch queue.Full and return False.")
    answers = {item: call.value for item, call in zip(items, calls)}
    winners = [item for item, answer in answers.items() if answer is True]
    losers = [item for item, answer in answers.items() if answer is False]
    inside = queue.contents()[2:]
    if len(winners) != free or len(losers) != offerers - free or sorted(inside) != sorted(winners):
        return failed("offer/wrong-answer", f"{what} and got {answers}, with {_short(inside)} in the queue: exactly "
                      f"{free} should get True (their item in the queue) and the others False.", judge.events())
    return passed(f"{offerers} processes raced for {places}: {free} got True, the others False at once, and nobody "
                  "waited")


@check(timeout=30, label="offer")
def check_offer_never_blocks_when_racing(judge, offer) -> Verdict:
    """Two processes offer into the last free place at once: one True, one False, nobody waits."""
    return _race(judge, offer, 2, 1)


@check(timeout=30, label="offer")
def check_offer_three_racing(judge, offer) -> Verdict:
    """Three processes offer into the last two free places at once."""
    return _race(judge, offer, 3, 2)


# =====================================================================================
# collect
# =====================================================================================

BIG = 1 << 20               # a megabyte: far more than a pipe holds, so a child cannot exit before it is read
STUCK_FOR = 1.0             # s without progress before the judge lets held targets go, or calls it a deadlock
JOIN_DWELL = 0.1            # s without progress before held targets go when the caller is seen waiting for a child
QUIET_HANG = 3.0            # s collect may sit blocked after every target has ended
BLOCKED_FOR = 1.5           # s collect and every target must sit blocked in the kernel before it counts as a deadlock
COLLECT_LIMIT = 15.0        # s collect may take
LATE_PUT = 2.0              # s target(q, LATE) waits before its put in check_collect_small
LATE = 1


def payload(i: int, size: int):
    """The result target(q, i) puts: (i, i * i), or (i, ``size`` bytes)."""
    return (i, bytes([i % 251]) * size) if size else (i, i * i)


class Target:
    """``target(q, i)`` handed to collect: put ``payload(i)`` on q; the judge knows when, and from which process."""

    def __init__(self, recorder, size: int, late: float = 0.0):
        self.recorder = recorder
        self.size = size
        self.late = late

    def __call__(self, q, i) -> None:
        recorder = self.recorder
        recorder.ask("putting", i if isinstance(i, int) else repr(i))
        if self.late and i == LATE:
            recorder.state("running", "a slow target")
            time.sleep(self.late)
        recorder.state("blocked", "put")
        q.put(payload(i, self.size) if isinstance(i, int) else (i, None))
        recorder.ask("put", i if isinstance(i, int) else repr(i))      # the judge may keep this process alive here
        recorder.state("blocked", "exit: its result must be read first")

    def __repr__(self) -> str:
        return "<function target>"


class _Targets:
    """The judge's view of the targets: who runs which i, whose put returned, who it holds alive."""

    def __init__(self, judge):
        self.judge = judge
        self.cv = threading.Condition()
        self.recorder = judge.recorder("target")
        self.recorder.on("putting", self._putting)
        self.recorder.on("put", self._put)
        self.recorder.on("caller", self._caller)
        self.stage_pid = judge.stage_peer.host_pid if judge.stage_peer else None
        self.caller_task: str | None = None             # /proc folder of the thread that runs collect (Linux)
        self.runs: list[tuple[int, object]] = []         # (host pid, i)
        self.pids: dict[int, int] = {}                   # host pid -> pid in the stage
        self.held: set[int] = set()
        self.released: set[int] = set()
        self.index: dict[int, int] = {}                  # host pid -> i
        self.progress = time.monotonic()
        self.alive_count = 0

    def _caller(self, peer, tid) -> None:
        """The thread that calls collect says its id; the judge finds it in /proc by its pid namespace's view."""
        if isinstance(tid, int) and peer.host_pid:
            self.caller_task = _thread_folder(peer.host_pid, tid)

    def caller_asleep(self) -> bool:
        """The calling thread is blocked in the kernel (a join, a get); True where the OS cannot tell (not Linux)."""
        if self.caller_task is None:
            return True
        state = _thread_state(self.caller_task)
        return state is None or state == "S"

    def caller_joining(self) -> bool:
        """The calling thread waits in the kernel for a child to end (waitpid: a join, or Popen.wait).

        Linux's ``wchan`` names where a thread sleeps. Seen there, a held target can go
        at once instead of after ``STUCK_FOR``; a get that waits for a result sleeps
        elsewhere, and a kernel that hides ``wchan`` (or another OS) falls back to the quiet period.
        """
        return self.caller_task is not None and _thread_wchan(self.caller_task) == "do_wait"

    def joining_a_held_target(self, alive: dict[int, str]) -> bool:
        """The caller waits for a child to end, and that child is one the judge holds.

        Not merely "waits for a child": a collect that skips a process's join may wait for a
        released one that is still on its way out, and letting the next go then would let the
        skipped one end too. Where the OS does not say which child (no ``/proc/.../syscall``),
        no released target may still be alive.
        """
        if not self.caller_joining():
            return False
        waited = _thread_waits_for(self.caller_task)
        with self.cv:
            if waited is None:
                return not (self.released & set(alive))
            host = next((h for h, pid in self.pids.items() if pid == waited), None)
            return host is not None and host in self.held and host not in self.released

    def _putting(self, peer, i) -> None:
        self.judge.record("state", "running", f"target(q, {i})", peer=peer)
        with self.cv:
            self.runs.append((peer.host_pid, i))
            self.index[peer.host_pid] = i if isinstance(i, int) else -1
            self.pids[peer.host_pid] = peer.pid
            self.progress = time.monotonic()
            self.cv.notify_all()

    def _put(self, peer, i) -> None:
        self.judge.record("mark", "put returned", str(i), peer=peer)
        if peer.host_pid == self.stage_pid:
            return None
        with self.cv:
            self.progress = time.monotonic()
            self.held.add(peer.host_pid)
            self.cv.notify_all()
            self.cv.wait_for(lambda: peer.host_pid in self.released or self.judge.closed)
            self.held.discard(peer.host_pid)
            self.progress = time.monotonic()
        return None

    def release(self, one: str | None = None) -> None:
        """Let the held targets exit: all, or only the one with the "lowest" or the "highest" i.

        One at a time, a collect that joins only some of its processes returns while another is
        held: joining all but the first fails with "highest" first, joining only the first with
        "lowest" first.
        """
        with self.cv:
            held = sorted(self.held - self.released, key=lambda pid: self.index.get(pid, -1))
            if one is not None and held:
                held = [held[0] if one == "lowest" else held[-1]]
            self.released.update(held)
            self.progress = time.monotonic()
            self.cv.notify_all()

    def alive(self) -> dict[int, str]:
        """The targets' processes that have not ended, with their state as the OS shows it."""
        import psutil

        found = {}
        for host_pid in {pid for pid, _i in self.runs if pid != self.stage_pid}:
            try:
                status = psutil.Process(host_pid).status()
            except psutil.Error:
                continue
            if status not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                found[host_pid] = status
        return found


def _judge_collect(judge, collect, n: int, size: int, first: str, late: float = 0.0) -> Verdict:
    from ..judge import Course

    targets = _Targets(judge)
    call = judge.call(Course("mpcourse.checks.queues:run_collect"), collect, n, targets.recorder, size, late,
                      name="collect")
    what = f"collect(target, {n})"
    caller = judge.stage_peer.pid if judge.stage_peer else -2
    judge.record("state", "running", what, name="collect (the caller)", pid=caller)
    deadline = time.monotonic() + COLLECT_LIMIT
    deadlocked = False
    asleep_since: dict[int, float] = {}
    clock_for, clock = None, _CallerClock(None)       # collect's own time since the last progress
    while not call.finished.is_set() and time.monotonic() < deadline and not judge.lost.is_set():
        call.finished.wait(0.05)
        alive = targets.alive()
        now = time.monotonic()
        blocked = [pid for pid, status in alive.items() if status == "sleeping"]
        if targets.caller_asleep():
            blocked.append(0)           # 0: the caller (a starved caller is runnable, not stuck)
        asleep_since = {pid: asleep_since.get(pid, now) for pid in blocked}
        with targets.cv:
            if len(alive) != targets.alive_count:
                targets.alive_count, targets.progress = len(alive), now
            quiet = now - targets.progress
            started = {pid for pid, _i in targets.runs if pid != targets.stage_pid}
            if clock_for != (targets.progress, targets.caller_task):
                clock_for, clock = (targets.progress, targets.caller_task), _CallerClock(targets.caller_task)
        if call.finished.is_set():
            continue
        if targets.held - targets.released:
            # not by the wall clock: a collect starved of CPU would see the one it skipped let go too; nor while
            # it sleeps on a timer: one long sleep instead of a join would see them go too
            if clock.read() >= STUCK_FOR and not clock.dozing() or quiet >= JOIN_DWELL and \
                    targets.joining_a_held_target(alive):
                targets.release(first)     # collect waits for them (a join): let one exit
            continue
        if quiet < STUCK_FOR:
            continue
        if started and set(alive) == started and all(now - asleep_since.get(pid, now) >= BLOCKED_FOR
                                                        for pid in [0, *started]) and _only_targets_run(judge, started):
            deadlocked = True          # the caller and every target blocked in the kernel: the results are unread
            break
        elif started and not alive and now - asleep_since.get(0, now) > QUIET_HANG \
                and _only_targets_run(judge, set()):
            break                      # every target has ended, and collect sits blocked: waiting for what?
    still_held = targets.held - targets.released
    if call.finished.is_set():
        judge.record("state", "exited", "collect returned", name="collect (the caller)", pid=caller)
    events = judge.events()
    ran = sorted((i for _pid, i in targets.runs), key=repr)
    extra = [i for i in ran if i not in range(n)] or [i for k, i in enumerate(ran) if i in ran[:k]]
    if extra and targets.stage_pid not in {pid for pid, _i in targets.runs}:
        hung = "" if call.finished.is_set() else f" (and it had not returned after {COLLECT_LIMIT:g} s)"
        return failed("collect/wrong-runs", f"{what} ran target for i in {ran}, expected once for each i in "
                      f"range({n}){hung}.", events)
    if not call.finished.is_set():
        stacks = judge.stacks()
        where = "; ".join(line for line in stacks if line.startswith("the call")) or "; ".join(stacks) or \
            "no process said where it was"
        if deadlocked:
            return failed("collect/join-before-get", f"{what} waits for its children to end ({where}), but each "
                          "child that put its result is still alive: a child cannot exit until its large result "
                          "has been read from the queue, so take every result first (q.get() n times), then join.",
                          events, title="collect: the children cannot exit, the parent waits for them")
        ended = "every one of them has ended" if not targets.alive() else "some are still running"
        return failed("collect/hangs", f"{what} did not return although {len(targets.runs)} of {n} targets had run "
                      f"and {ended} ({where}): take exactly n results from the queue, then join every process.",
                      events)
    if call.status == "raised" and call.error_type == "Empty":
        return failed("collect/gives-up-waiting", f"{what} raised {call.error()} while a target was still working: "
                      "a target may take as long as it needs, so take each result with a plain q.get(), no timeout.",
                      events)
    if call.status == "raised":
        return failed("collect/raised", f"{what} raised {call.error()}.")
    in_caller = [i for pid, i in targets.runs if pid == targets.stage_pid]
    if in_caller:
        return failed("collect/target-in-caller", f"{what} ran target(q, {in_caller[0]!r}) in the calling process: "
                      "start one Process(target=target, args=(q, i)) for each i.", events)
    if ran != list(range(n)):
        return failed("collect/wrong-runs", f"{what} ran target for i in {ran}, expected once for each i in "
                      f"range({n}).")
    if still_held:
        return failed("collect/left-running", f"{what} returned while {len(still_held)} of its {n} processes were "
                      "still running: join every process after taking the results.", events,
                      title="collect: children left running")
    targets.release()
    leftovers = [p for p in judge.processes() if p["alive"] and not p["is_stage"] and not p["helper"]]
    if leftovers:
        names = ", ".join(sorted({p["name"] for p in leftovers}))
        return failed("collect/left-running", f"{what} returned while {len(leftovers)} process(es) it started were "
                      f"still running ({names}): wait for every process you start (join(), or wait() for "
                      "subprocess) before returning.", events, title="collect: processes left running")
    return _collect_results(what, call.value, n, size)


def _only_targets_run(judge, started: set[int]) -> bool:
    """No process of the student's is still starting: the live ones are exactly the targets that ran."""
    alive = {p["host_pid"] for p in judge.processes() if p["alive"] and not p["is_stage"] and not p["helper"]}
    return alive == started


def _collect_results(what: str, got, n: int, size: int) -> Verdict:
    if not isinstance(got, list):
        return failed("collect/not-a-list", f"{what} returned {_short(got)}, expected a list of the {n} results.")
    if len(got) != n:
        return failed("collect/wrong-results", f"{what} returned {len(got)} results, expected {n} (one per process).")
    index = {}
    for result in got:
        if not (isinstance(result, tuple) and len(result) == 2 and type(result[0]) is int):
            return failed("collect/wrong-results", f"{what} returned {_short(result)} among its results: return each "
                          "result exactly as q.get() gives it.")
        index.setdefault(result[0], []).append(result)
    if sorted(index) != list(range(n)) or any(len(v) != 1 or not _same(v[0], payload(i, size))
                                              for i, v in index.items()):
        return failed("collect/wrong-results", f"{what} did not return each process's result exactly once: return "
                      "what q.get() gives, one result per process, in any order.")
    kind = f"a {size >> 20} MB result" if size else "a small result"
    return passed(f"{n} processes each put {kind}; all {n} came back, and no process was left running")


def run_collect(collect, n: int, recorder, size: int, late: float = 0.0):
    """In the stage (the caller): ``collect(target, n)`` with the course's target."""
    recorder.ask("caller", threading.get_native_id())
    return collect(Target(recorder, size, late), n)


@check(timeout=25, label="collect")
def check_collect_small(judge, collect) -> Verdict:
    """Three processes with small results, one of them 2 s late: all come back (any order), none left running."""
    return _judge_collect(judge, collect, 3, 0, "lowest", late=LATE_PUT)


@check(timeout=30, label="collect")
def check_collect_large_results(judge, collect) -> Verdict:
    """Four processes put a megabyte each: all come back, nothing deadlocks, no process left running."""
    return _judge_collect(judge, collect, 4, BIG, "highest")
