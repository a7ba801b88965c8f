"""Checks for assignment 06_producer_consumer: pipeline (producer, consumer, run_pipeline), run_joinable.

The grader controls what flows through the student's pipeline, not the pipeline itself:

* every item is an ``Item`` whose pickling (which happens when a producer's queue
  sends it) records a "put" mark in the producer's process, and can be made slow, so
  the producers are reliably slower than the consumers (a consumer that stops when the
  queue looks empty, or at a sentinel sent too early, then loses items on every run);
* ``transform`` is a ``Transform`` that records which consumer took which item when,
  and can be made slow, so a bounded queue really fills up and the producers must block
  (the "put" and "take" marks then show how many items were in the buffer at once);
* the student's call runs in a thread of the judge with its own deadline, so a pipeline
  that hangs becomes one plain sentence built from what was recorded, and every process
  it started is watched (``multiprocessing.Process.start`` is hooked inside the judge),
  so "no process left running" is checked by looking, before the check returns.
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.process
import os
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from ..timeline import Timeline
from . import Verdict, check, failed, passed

# --------------------------------------------------------------------------------------
# shared judge-side helpers (also used by the sockets checks)


@dataclass
class Outcome:
    """What became of a call run under a judge-side deadline."""
    status: str                      # "ok", "raised" or "hung"
    value: object = None
    error: BaseException | None = None
    started: float = 0.0             # perf_counter at the call
    ended: float = 0.0               # perf_counter at its return (or at the deadline)

    @property
    def elapsed(self) -> float:
        return self.ended - self.started

    def describe_error(self) -> str:
        return f"{type(self.error).__name__}: {self.error}" if self.error else ""


class Background:
    """``func(*args)`` running in a daemon thread of the judge; ``wait(timeout)`` gives its Outcome.

    A hanging call is left behind in its daemon thread (the check's process is killed
    with its whole tree once the verdict is back). NotImplementedError is re-raised so
    that the check reports "not written yet".
    """

    def __init__(self, func, *args, name: str = "student call"):
        self.box: dict = {}
        self.started = time.perf_counter()
        self.thread = threading.Thread(target=self._run, args=(func, args), name=name, daemon=True)
        self.thread.start()

    def _run(self, func, args) -> None:
        box = self.box
        try:
            box["value"] = func(*args)
            box["status"] = "ok"
        except BaseException as exc:  # noqa: BLE001 (the student's error becomes the verdict)
            box["error"] = exc
            box["status"] = "raised"
        box["ended"] = time.perf_counter()

    def stop(self) -> None:
        """Make the call end at its next Python step (SystemExit raised in its thread).

        A call that hung must not go on once the check's processes are killed: it would
        start new processes (or spin) while the verdict is delivered.
        """
        import ctypes

        if self.thread.ident is not None and self.thread.is_alive():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self.thread.ident),
                                                       ctypes.py_object(SystemExit))

    def done(self) -> bool:
        return not self.thread.is_alive()

    def wait(self, timeout: float) -> Outcome:
        self.thread.join(max(timeout, 0))
        if self.thread.is_alive():
            self.stop()
            return Outcome("hung", started=self.started, ended=time.perf_counter())
        box = self.box
        if isinstance(box.get("error"), NotImplementedError):
            raise box["error"]
        return Outcome(box["status"], box.get("value"), box.get("error"), self.started, box["ended"])


def call_in_thread(func, *args, timeout: float, name: str = "student call") -> Outcome:
    """Run ``func(*args)`` in a daemon thread; give up waiting after ``timeout`` s."""
    return Background(func, *args, name=name).wait(timeout)


@dataclass
class Started:
    """A process the student's code started (seen through the start hook)."""
    process: object
    target: str
    daemon: bool
    at: float
    pid: int | None = None

    def alive(self) -> bool:
        try:
            return self.process.is_alive()
        except (AssertionError, ValueError):      # started by another process / closed
            return False


@dataclass
class Watch:
    started: list[Started] = field(default_factory=list)
    ended: dict[int, int] = field(default_factory=dict)       # pid -> perf_counter_ns when it ended

    def record_exits(self, timeline: Timeline) -> None:
        """Put each watched process's end on its own timeline row (it cannot record that itself)."""
        for s in self.started:
            t = self.ended.get(s.pid)
            if t is None:
                continue
            name = getattr(s.process, "name", "") or f"pid {s.pid}"
            try:
                with open(os.path.join(timeline.folder, f"{s.pid}.events"), "a", encoding="utf-8") as f:
                    f.write(f"{t}\t{s.pid}\t{name}\tstate\texited\t\n")
            except OSError:
                pass


class watch_processes:
    """``with watch_processes() as w:`` records every ``Process.start()`` in this process, and when each ended.

    Ends are seen on the processes' sentinels (nothing is reaped, so the student's own
    join() is undisturbed).
    """

    def _monitor(self) -> None:
        from multiprocessing.connection import wait

        while not self.stopping:
            pending = {}
            for s in list(self.watch.started):
                if s.pid in self.watch.ended:
                    continue
                try:
                    pending[s.process.sentinel] = s
                except (ValueError, AttributeError):
                    continue
            if not pending:
                time.sleep(0.01)
                continue
            try:
                ready = wait(list(pending), timeout=0.02)
            except (OSError, ValueError):
                time.sleep(0.01)
                continue
            now = time.perf_counter_ns()
            for fd in ready:
                self.watch.ended.setdefault(pending[fd].pid, now)

    def __enter__(self) -> Watch:
        self.watch = Watch()
        self.stopping = False
        self.monitor = threading.Thread(target=self._monitor, name="process monitor", daemon=True)
        self.monitor.start()
        self.original = multiprocessing.process.BaseProcess.start
        original, watch = self.original, self.watch

        def start(process):
            target = getattr(getattr(process, "_target", None), "__name__", None) or type(process).__name__
            original(process)
            watch.started.append(Started(process, target, bool(process.daemon), time.perf_counter(), process.pid))

        multiprocessing.process.BaseProcess.start = start
        return self.watch

    def __exit__(self, *exc) -> None:
        multiprocessing.process.BaseProcess.start = self.original
        time.sleep(0.03)                 # let the monitor see processes that ended just now
        self.stopping = True
        self.monitor.join(1)


def live_descendants() -> list:
    """Processes below this one that still run (not helpers such as the fork server, not zombies)."""
    import psutil

    from ..runner import _is_helper

    multiprocessing.active_children()                 # reaps children that have ended
    found = []
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return found
    for child in children:
        try:
            if child.status() == psutil.STATUS_ZOMBIE or _is_helper(child):
                continue
        except psutil.Error:
            continue
        found.append(child)
    return found


def wait_for_no_descendants(grace: float) -> list:
    """Live descendants after waiting up to ``grace`` s for them to end on their own."""
    deadline = time.monotonic() + grace
    while True:
        alive = live_descendants()
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.02)


def _were(n: int) -> str:
    return "was" if n == 1 else "were"


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


# --------------------------------------------------------------------------------------
# what flows through the pipeline

_announced: set[int] = set()


class Item:
    """An item of a batch. Pickling it (a producer's queue sending it) records "put n".

    ``delay`` makes that pickling slow in any process but the judge's own, so items
    reach the consumers slowly; the judge pickles its batches fast (spawn arguments).
    """

    def __init__(self, n: int, timeline: Timeline, delay: float = 0.0, home: int = 0, last: bool = False):
        self.n = n
        self.timeline = timeline
        self.delay = delay
        self.home = home
        self.last = last           # the last item of its batch: its producer is done once it is sent

    def __reduce__(self):
        if os.getpid() != self.home:
            pid = os.getpid()
            if pid not in _announced:
                _announced.add(pid)
                self.timeline.state("running", "producing")
            self.timeline.mark("put", str(self.n))
            if self.delay:
                time.sleep(self.delay)
            if self.last:
                self.timeline.state("exited", "put its last item")
        return Item, (self.n, self.timeline, self.delay, self.home, self.last)

    def __eq__(self, other):
        return isinstance(other, Item) and other.n == self.n

    def __hash__(self):
        return hash(("Item", self.n))

    def __repr__(self) -> str:
        return f"Item({self.n})"


class Transform:
    """The ``transform`` handed to the pipeline: records "take n" in the consumer; result is n * 10."""

    def __init__(self, timeline: Timeline, delay: float = 0.0):
        self.timeline = timeline
        self.delay = delay

    def __call__(self, item):
        tl = self.timeline
        if item is None:
            tl.mark("transform(None)")
            return None
        n = getattr(item, "n", item)
        tl.state("running", f"transform({n})")
        tl.mark("take", str(n))
        if self.delay:
            time.sleep(self.delay)
        tl.state("blocked", "get the next item")
        return n * 10 if isinstance(n, int) else n

    def __repr__(self) -> str:
        return "transform"


def make_batches(sizes: list[int], timeline: Timeline, delay: float = 0.0) -> list[list[Item]]:
    batches, n = [], 1
    for size in sizes:
        batches.append([Item(i, timeline, delay, os.getpid(), last=i == n + size - 1) for i in range(n, n + size)])
        n += size
    return batches


def marks(events, what: str) -> list:
    return [e for e in events if e.kind == "mark" and e.what == what]


def first_times(events, what: str, skip_pid: int | None = None) -> dict[int, float]:
    """item number -> time of its first ``what`` mark (put or take)."""
    found: dict[int, float] = {}
    for e in marks(events, what):
        if e.pid == skip_pid:
            continue
        try:
            n = int(e.detail)
        except ValueError:
            continue
        found.setdefault(n, e.t)
    return found


def most_in_buffer(puts: dict[int, float], takes: dict[int, float]) -> tuple[int, tuple[float, float]]:
    """The most items put and not yet taken at one instant, and when that was."""
    best, when = 0, (0.0, 0.0)
    for t in sorted(puts.values()):
        inside = [n for n, p in puts.items() if p <= t < takes.get(n, float("inf"))]
        if len(inside) > best:
            best = len(inside)
            end = min((takes.get(n, float("inf")) for n in inside), default=t)
            when = (t, end if end != float("inf") else t + 0.05)
    return best, when


def compare_results(got, expected: Counter) -> str | None:
    """A sentence fragment describing how ``got`` differs from ``expected`` (None if equal)."""
    if not isinstance(got, (list, tuple)):
        return f"returned {type(got).__name__} {got!r:.60}, expected a list of the transformed items"
    try:
        counts = Counter(got)
    except TypeError:
        return f"returned {got!r:.80}, expected the transformed items (transform(item) for every item)"
    if counts == expected:
        return None
    missing = expected - counts
    extra = counts - expected
    total = sum(expected.values())
    if extra and any(v is None for v in extra):
        return "returned None among the results: transform was called on the sentinel"
    if extra and not missing:
        twice = sorted(k for k in extra if k in expected)
        if twice:
            return (f"returned {len(got)} results for {total} items: the result of item {twice[0] // 10} "
                    "came back more than once")
        return f"returned results that are not transform(item) of any item, e.g. {next(iter(extra))!r:.40}"
    if missing:
        n_missing = sum(missing.values())
        return f"returned {plural(total - n_missing, 'result')} of {total}: {plural(n_missing, 'item')} never came back"
    return f"returned {got!r:.80}, expected {sorted(expected.elements())!r:.80}"


# --------------------------------------------------------------------------------------
# participants the judge starts itself

class WatchedQueue:
    """A queue handed to the student's consumer: its calls are recorded, items are fed by the judge."""

    def __init__(self, timeline: Timeline):
        self.timeline = timeline
        self._q = multiprocessing.get_context().Queue()

    def get(self, block: bool = True, timeout: float | None = None):
        tl = self.timeline
        tl.mark("q.get()" if block and timeout is None else ("q.get_nowait()" if not block else "q.get(timeout)"))
        tl.state("blocked", "q.get()")
        try:
            item = self._q.get(block, timeout)
        finally:
            tl.state("running")
        tl.mark("got", "None" if item is None else str(getattr(item, "n", item)))
        return item

    def get_nowait(self):
        return self.get(False)

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        self._q.put(item, block, timeout)

    def empty(self) -> bool:
        self.timeline.mark("q.empty()")
        return self._q.empty()

    def qsize(self) -> int:
        self.timeline.mark("q.qsize()")
        return self._q.qsize()

    def full(self) -> bool:
        return False

    def feed(self, item) -> None:
        """The judge's side: put an item."""
        self._q.put(item)


def run_consumer(consumer, q, results, transform, timeline: Timeline) -> None:
    """Child: the student's consumer, with its start, end and errors recorded."""
    timeline.state("running")
    try:
        consumer(q, results, transform)
        timeline.mark("returned")
    except Exception as exc:
        timeline.mark("raised", f"{type(exc).__name__}: {exc}")
    finally:
        timeline.state("exited")


def run_producer(producer, q, items, timeline: Timeline) -> None:
    """Child: the student's producer."""
    timeline.state("running")
    try:
        producer(q, items)
        timeline.mark("returned")
    except Exception as exc:
        timeline.mark("raised", f"{type(exc).__name__}: {exc}")
    finally:
        timeline.state("exited")


def _raised(events) -> str | None:
    for e in events:
        if e.kind == "mark" and e.what == "raised":
            return e.detail
    return None


def _error_verdict(name: str, call: str, error: str, timeline: Timeline | None = None) -> Verdict:
    if error.startswith("NotImplementedError"):
        return failed(f"`{name}` is not written yet (it raises NotImplementedError).")
    return failed(f"{call} raised {error}.", timeline)


def _wait_for(timeline: Timeline, predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate(timeline.events()):
            return True
        time.sleep(0.005)
    return False


def _queue_calls(events) -> list:
    return [e for e in events if e.kind == "mark" and e.what.startswith("q.")]


def probe_consumer(consumer) -> tuple[str, str, Timeline]:
    """Feed the student's consumer slowly: items only once it is waiting, then the sentinel.

    Returns (problem, detail, timeline): problem is "" when it behaved, else one of
    "empty" (returned before its sentinel), "no-stop" (did not stop at the sentinel),
    "results" (wrong results), "raised".
    """
    ctx = multiprocessing.get_context()
    tl = Timeline()
    q, results = WatchedQueue(tl), ctx.Queue()
    timeline_items = [Item(n, tl, 0.0, os.getpid()) for n in (1, 2, 3)]
    proc = ctx.Process(target=run_consumer, args=(consumer, q, results, Transform(tl), tl), name="consumer")
    proc.start()
    try:
        fed = 0
        for item in [*timeline_items, None]:
            # wait until the consumer has asked the queue again (or has ended)
            asked = fed + 1
            if not _wait_for(tl, lambda ev, k=asked: len(_queue_calls(ev)) >= k or not proc.is_alive(), 8.0):
                return "stuck", "", tl
            if not proc.is_alive():
                break
            time.sleep(0.03)          # the queue stays empty a while: a real producer can be slow
            tl.mark("judge puts", "None" if item is None else str(item.n))
            q.feed(item)
            fed += 1
            if item is not None:
                _wait_for(tl, lambda ev, k=item.n: any(e.what == "take" and e.detail == str(k) for e in ev)
                          or not proc.is_alive(), 5.0)
        proc.join(5.0)
        events = tl.events()
        error = _raised(events)
        if error:
            return "raised", error, tl
        if proc.is_alive():
            return "no-stop", "", tl
        if fed < 4:
            calls = {e.what for e in _queue_calls(events)}
            how = ("q.empty()" if "q.empty()" in calls else "q.qsize()" if "q.qsize()" in calls
                   else "q.get_nowait()" if "q.get_nowait()" in calls else
                   "a q.get(timeout=...)" if "q.get(timeout)" in calls else "")
            return "empty", how, tl
        got = []
        while True:
            try:
                got.append(results.get(timeout=0.5))
            except queue.Empty:
                break
        problem = compare_results(got, Counter([10, 20, 30]))
        if problem:
            return "results", problem, tl
        return "", "", tl
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(1)


# --------------------------------------------------------------------------------------
# pipeline: producer, consumer

@check(timeout=20, label="producer")
def check_producer(producer) -> Verdict:
    """producer(q, items) puts its items in order, and nothing else (no sentinel)."""
    ctx = multiprocessing.get_context()
    tl = Timeline()
    q = ctx.Queue(2)
    items = [Item(n, tl, 0.0, os.getpid()) for n in range(1, 7)]
    proc = ctx.Process(target=run_producer, args=(producer, q, items, tl), name="producer")
    proc.start()
    got = []
    try:
        while len(got) < len(items) + 1:
            try:
                got.append(q.get(timeout=5.0 if len(got) < len(items) else 0.3))
            except queue.Empty:
                break
        proc.join(2.0)
        error = _raised(tl.events())
        if error:
            return _error_verdict("producer", "producer(q, items)", error)
        if proc.is_alive():
            return failed("producer(q, items) did not return after putting its items: put each item once and return.")
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(1)
    if got == items:
        return passed()
    if got[:len(items)] == items and len(got) > len(items):
        return failed(f"producer(q, items) put {got[-1]!r} after its items: a producer puts only its own items, "
                      "because with several producers an extra None would stop a consumer early; "
                      "run_pipeline sends the sentinels once every producer has finished.")
    if sorted(got, key=lambda i: getattr(i, "n", 0)) == items:
        return failed(f"producer(q, items) put the items in the order {got!r}: put them in the order given.")
    return failed(f"producer(q, {items!r}) put {got!r} on the queue: put each item of `items`, in order.")


@check(timeout=25, label="consumer")
def check_consumer(consumer) -> Verdict:
    """consumer(q, results, transform) waits for slow items and stops only at the sentinel."""
    problem, detail, tl = probe_consumer(consumer)
    if not problem:
        return passed()
    if problem == "raised":
        return _error_verdict("consumer", "consumer(q, results, transform)", detail, tl)
    if problem == "empty":
        how = f" (it checked {detail})" if detail else ""
        return failed(f"consumer returned while the queue was momentarily empty{how}, before its sentinel None "
                      "arrived, so every later item would be lost: an empty queue only means the producers are "
                      "slower; block on q.get() and stop only when it returns None.", tl,
                      title="consumer: stopped before the sentinel")
    if problem == "no-stop":
        return failed("consumer did not stop when it received the sentinel None: break out of the loop when "
                      "q.get() returns None (and never pass None to transform).", tl,
                      title="consumer: still running after the sentinel")
    if problem == "stuck":
        return failed("consumer never took an item from the queue q: loop on q.get(), put transform(item) on "
                      "results, stop at None.", tl)
    return failed(f"consumer {detail}: put transform(item) on `results` for every item taken from q.", tl)


# --------------------------------------------------------------------------------------
# pipeline: run_pipeline

@dataclass
class Scenario:
    sizes: list[int]
    n_consumers: int
    maxsize: int
    put_delay: float = 0.0           # slow producers
    take_delay: float = 0.0          # slow consumers
    deadline: float = 12.0
    overlap: bool = False            # require consumers to work while producers produce
    bounded: bool = False            # require back-pressure (at most ~maxsize items in the buffer)


def _roles(watch: Watch, events, consumer_name: str, producer_name: str):
    """Split the started processes into producers and consumers (by what they did, else by target)."""
    took = {e.pid for e in marks(events, "take")}
    put = {e.pid for e in marks(events, "put")}
    consumers, producers = [], []
    for s in watch.started:
        if s.pid in took or (s.pid not in put and s.target == consumer_name):
            consumers.append(s)
        elif s.pid in put or s.target == producer_name:
            producers.append(s)
    return producers, consumers


def _early_stop_sentence(consumer, lost: int, total: int) -> str:
    """Consumers ended before the producers: was it the consumer (empty) or the sentinels (too early)?"""
    problem, how, _tl = probe_consumer(consumer) if consumer is not None else ("", "", None)
    if problem == "raised":
        if how.startswith("NotImplementedError"):
            return "`consumer` is not written yet (it raises NotImplementedError)."
        return f"{lost} of {total} items were never transformed: consumer(q, results, transform) raised {how}."
    if problem == "empty":
        checked = f" ({how} said so)" if how else ""
        return (f"the consumers stopped as soon as the queue looked empty{checked} while the producers were still "
                f"producing, so {lost} of {total} items {_were(lost)} never transformed: an empty queue only means the "
                "producers are slower; block on q.get() and stop only at the sentinel None.")
    return (f"the consumers received their sentinels before the producers had put all their items, so {lost} of "
            f"{total} items {_were(lost)} never transformed: join every producer first, then put one None per "
            "consumer.")


def judge_pipeline(run_pipeline, consumer, producer, sc: Scenario) -> Verdict:
    tl = Timeline()
    batches = make_batches(sc.sizes, tl, sc.put_delay)
    total = sum(sc.sizes)
    expected = Counter(n * 10 for n in range(1, total + 1))
    call = f"run_pipeline(batches, {sc.n_consumers}, transform, {sc.maxsize})"
    me = os.getpid()
    with watch_processes() as watch:
        outcome = call_in_thread(run_pipeline, batches, sc.n_consumers, Transform(tl, sc.take_delay), sc.maxsize,
                                 timeout=sc.deadline, name="run_pipeline")
    watch.record_exits(tl)
    tl.mark("run_pipeline returned" if outcome.status == "ok" else "check gave up", name="run_pipeline (caller)")
    events = tl.events()
    takes = first_times(events, "take")
    puts = first_times(events, "put", skip_pid=me)
    producers, consumers = _roles(watch, events, getattr(consumer, "__name__", "consumer"),
                                  getattr(producer, "__name__", "producer"))
    lost = total - len(takes)
    picture = f"{call}: what your processes did"

    if outcome.status == "raised":
        return failed(f"{call} raised {outcome.describe_error()}.", tl, title=picture)
    if outcome.status == "hung":
        waiting = [c for c in consumers if c.alive()]
        ended = [c for c in consumers if not c.alive()]
        if lost == 0:
            if waiting:
                return failed(f"{call} never returned although every item was transformed: "
                              f"{plural(len(waiting), 'consumer')} of {len(consumers)} still waited for a sentinel "
                              "(one None stops one consumer); after the producers finish, put one None per "
                              "consumer.", tl, [(max(takes.values()), outcome.ended)], title=picture)
            return failed(f"{call} never returned although every item was transformed: it waits for something "
                          "that never comes; read exactly one result per item, then join the processes.",
                          tl, title=picture)
        if not consumers and puts:
            return failed(f"{call} hung with the queue full and no consumer running: the producers block on the "
                          f"bounded queue (maxsize={sc.maxsize}) until someone takes items, so start the consumers "
                          "together with the producers, and join the producers only after that.", tl,
                          title=picture)
        if ended and lost:
            return failed(_early_stop_sentence(consumer, lost, total).replace(
                "never transformed", "never transformed and the producers were left blocked"),
                tl, title=picture)
        return failed(f"{call} did not finish in {sc.deadline:g} s and only {len(takes)} of {total} items were "
                      "transformed: start the consumers and producers together, join the producers, put one None "
                      "per consumer, collect one result per item, then join the consumers.", tl, title=picture)

    problem = compare_results(outcome.value, expected)
    if problem:
        if lost > 0 and len(takes) < total and [c for c in consumers if not c.alive()]:
            return failed(_early_stop_sentence(consumer, lost, total), tl, title=picture)
        return failed(f"{call} {problem}: every item must be transformed exactly once.", tl, title=picture)

    left = wait_for_no_descendants(0.5)
    if left:
        return failed(f"{plural(len(left), 'process', 'processes')} of run_pipeline "
                      f"{'was' if len(left) == 1 else 'were'} still running after it "
                      "returned: join every producer and consumer before returning.", tl,
                      [(outcome.ended, time.perf_counter())], title=picture)
    if sc.overlap or sc.bounded:
        if not takes or not puts:
            return failed(f"{call} returned the right results, but no item went through a queue between "
                          "producer and consumer processes: run one producer process per batch and the "
                          "consumers in processes of their own, connected by a Queue(maxsize).", tl, title=picture)
        if sc.bounded:
            most, when = most_in_buffer(puts, takes)
            allowed = sc.maxsize + len(producers) + max(len(consumers), sc.n_consumers)
            if most > allowed:
                return failed(f"the queue between producers and consumers held {most} items at once although "
                              f"maxsize was {sc.maxsize}: create it with multiprocessing.Queue(maxsize), so that "
                              "fast producers block (back-pressure) instead of piling items up.", tl, [when],
                              title=f"{call}: items in the buffer")
        first_take, last_put = min(takes.values()), max(puts.values())
        if sc.overlap and first_take > last_put:
            return failed(f"no consumer took an item before the producers had put all {total} items: start the "
                          "consumers together with the producers, so that they work at the same time.", tl,
                          [(min(puts.values()), first_take)], title=picture)
    return passed()


@check(timeout=25, label="run_pipeline")
def check_run_pipeline(run_pipeline, consumer=None, producer=None) -> Verdict:
    """Two batches, two consumers, a small buffer: every item comes back transformed, once."""
    return judge_pipeline(run_pipeline, consumer, producer, Scenario([3, 4], 2, 2))


@check(timeout=30, label="run_pipeline")
def check_run_pipeline_slow_producers(run_pipeline, consumer=None, producer=None) -> Verdict:
    """Producers slower than consumers: the queue is often empty, nothing may be lost."""
    return judge_pipeline(run_pipeline, consumer, producer,
                          Scenario([4, 4, 4], 3, 2, put_delay=0.04, overlap=True))


@check(timeout=30, label="run_pipeline")
def check_run_pipeline_back_pressure(run_pipeline, consumer=None, producer=None) -> Verdict:
    """Consumers slower than producers: the bounded queue fills, producers block, both run at once."""
    return judge_pipeline(run_pipeline, consumer, producer,
                          Scenario([8, 8, 8], 2, 2, take_delay=0.02, overlap=True, bounded=True))


# --------------------------------------------------------------------------------------
# joinable_pipeline: run_joinable

def judge_joinable(run_joinable, n_items: int, n_consumers: int, delay: float) -> Verdict:
    tl = Timeline()
    items = [Item(n, tl, 0.0, os.getpid()) for n in range(1, n_items + 1)]
    expected = Counter(n * 10 for n in range(1, n_items + 1))
    call = f"run_joinable(items, {n_consumers}, transform)"
    picture = f"{call}: what your processes did"
    with watch_processes() as watch:
        outcome = call_in_thread(run_joinable, items, n_consumers, Transform(tl, delay), timeout=8.0,
                                 name="run_joinable")
    watch.record_exits(tl)
    tl.mark("run_joinable returned" if outcome.status == "ok" else "check gave up", name="run_joinable (caller)")
    takes = first_times(tl.events(), "take")
    if outcome.status == "raised":
        return failed(f"{call} raised {outcome.describe_error()}.", tl, title=picture)
    if outcome.status == "hung":
        if len(takes) == n_items:
            return failed(f"{call} never returned although every item was transformed: q.join() waits until "
                          "task_done() has been called once per item, so call q.task_done() after each item a "
                          "consumer takes (in a finally: block).", tl, [(max(takes.values()), outcome.ended)],
                          title=picture)
        if not takes:
            return failed(f"{call} did not return within 8 s and no consumer took an item: start the daemon "
                          "consumers before putting the items, then wait with q.join().", tl, title=picture)
        return failed(f"{call} did not return within 8 s and only {len(takes)} of {n_items} items were "
                      "transformed: every consumer loops on q.get(), puts transform(item) on the results and "
                      "calls q.task_done().", tl, title=picture)
    problem = compare_results(outcome.value, expected)
    if problem:
        return failed(f"{call} {problem}: collect exactly one result per item after q.join().", tl, title=picture)
    left = wait_for_no_descendants(0.3)
    if left:
        pids = {p.pid for p in left}
        lingering = [s for s in watch.started if s.pid in pids]
        non_daemon = [s for s in lingering if not s.daemon]
        tl.mark("still running", plural(len(left), "process", "processes"), name="run_joinable (caller)")
        span = [(outcome.ended, time.perf_counter())]
        if non_daemon:
            return failed(f"after {call} returned, {plural(len(left), 'consumer process', 'consumer processes')} "
                          f"{'was' if len(left) == 1 else 'were'} still running, not daemons and blocked in "
                          "q.get() for ever (a notebook kernel never exits, and it would wait for them): make the "
                          "consumers daemons and stop them once q.join() has returned "
                          "(terminate() and join() them).", tl, span, title=picture)
        return failed(f"after {call} returned, {plural(len(left), 'process', 'processes')} "
                      f"{'was' if len(left) == 1 else 'were'} still running: a "
                      "notebook kernel never exits, so daemon consumers do not die on their own; once q.join() "
                      "has returned, terminate() and join() them.", tl, span, title=picture)
    return passed()


@check(timeout=25, label="run_joinable")
def check_run_joinable(run_joinable) -> Verdict:
    """A few items, two consumers: every result once, nothing left running."""
    return judge_joinable(run_joinable, 6, 2, 0.0)


@check(timeout=25, label="run_joinable")
def check_run_joinable_slow(run_joinable) -> Verdict:
    """Slow transforms and three consumers: q.join() must wait for every task_done(); nothing left running."""
    return judge_joinable(run_joinable, 12, 3, 0.02)
