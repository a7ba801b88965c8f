"""Checks for assignment 06_producer_consumer: pipeline (producer, consumer, run_pipeline), run_joinable.

The student's functions run in the stage; the judge owns what flows through them.
Every item is an ``Item`` (an ``int`` subclass, so item 0 is falsy) whose pickling, which
is how a queue sends it, first asks the judge: "put n", from the real sender's pid,
answered when the judge decides. ``transform`` asks "take n" the same way. So the judge
knows who put and who took every item and when, and can pause producers or consumers
at will; ``judge.processes()`` shows every process of the stage as the OS sees it (its
status: asleep in a blocking ``get``, running, ended). Roles are counted from that:
a producer is the first process other than the caller that sends an item, a consumer
is a process that calls ``transform``.

Test plan (COURSE_SPEC's contract, dimension by dimension):

``producer(q, items)`` / ``consumer(q, results, transform)`` (alone, on a queue the judge holds)
  * values: item 0 is falsy; the producer puts each item once, in order, and no None
    (``check_producer``); the consumer stops only at None, never at a falsy item, never
    calls ``transform(None)``, puts exactly [0, 10, 20] on results (``check_consumer``);
  * sizes: the producer's queue holds 2 items, so a ``put_nowait`` that gives up on a full
    queue loses items every time (``check_producer``);
  * timing: the judge delivers each item only once the consumer waits for it and has
    outlasted its own ``get(timeout=...)`` (up to 3 s) or polled ``empty()``/``get_nowait()``
    three times, so stopping on an empty queue is caught every run (``check_consumer``).
``run_pipeline(batches, n_consumers, transform, maxsize)``
  * timing and structure (``check_run_pipeline``, the visible test): the judge holds every
    producer's first item until every producer and ``n_consumers`` other processes are seen
    asleep, and longer; a process that is not a producer and ends meanwhile stopped on an
    empty queue or got a sentinel too early (the consumer alone is probed to say which).
    Then the last item of the first (longest) batch is held until everything else was put and
    taken and the other producers have ended: a consumer that ends now got a None before
    the producers finished (a sentinel put too early, or one per producer): judged by
    structure, not by a lost item. Then one None per consumer must stop them all.
  * values: item 0 is falsy; 3 consumers for 2 batches (more consumers than batches);
  * counts (every check): each batch's items were put by one process, a different one per
    batch, never by the caller; at most ``n_consumers`` processes called transform. In
    ``check_run_pipeline_busy_consumers`` every transform is held until 4 consumers (for 2
    batches) are inside it at once: fewer with items waiting in the queue, or a fifth one
    taking an item, fails;
  * sizes and back-pressure (``check_run_pipeline_busy_consumers``): while the consumers are
    held, no more than maxsize (+ one in flight per process) items may be put, so an
    unbounded queue fails every time; 4 results of 256 KB fill any pipe, so joining the
    consumers before reading the results hangs every time;
  * which producer is held: ``check_run_pipeline`` holds the first batch's producer (the first
    started), so joining only ``producers[1:]`` lets the sentinels out before its last item:
    ``pipeline/sentinel-too-early`` in the visible test; ``check_run_pipeline_late_producer``
    (run 1) holds the last batch's producer the same way, for ``producers[:-1]``;
  * full queue at the sentinels (run 2): every transform is held, so with 2 consumers, maxsize 3
    and 5 items the producers end with the queue full; the sentinels must wait for room:
    ``put_nowait(None)`` raises Full every time (``pipeline/gives-up-on-full-queue``). Then
    the transform that completes the set is held until every process is asleep and the
    caller waits in the kernel (not runnable, not in ``time.sleep``): reading the results
    with ``get_nowait()``, at once or after a pause, raises Empty every time
    (``pipeline/gives-up-waiting``);
  * results: every result exactly once, any order (every check); in ``check_run_pipeline``
    (visible) too, the transform of the last item ends only once the caller waits in the
    kernel, so ``get_nowait()`` on the results fails the visible test every run;
  * leftovers: no process of the stage may run after the return (every check; children of
    ``subprocess`` and new sessions count). Once every item is out, each consumer is held at
    its very end (after its queues have sent every result) until the caller waits for it, so
    returning without joining the consumers leaves them running every time, not only when
    they happen to be slow to end (``pipeline/left-running``). Under fork and spawn the judge
    sees which process a join waits for (os.waitpid) and lets only that one go, so joining all
    consumers but one is caught every run too; under forkserver a join waits on a pipe, so all
    go together once the caller waits. Whatever ended without being joined (that one under
    forkserver, or a consumer that skips the hold with ``os._exit``) is still a zombie of the
    caller at the return, or under forkserver its exit status is still unread in the caller's
    pipe: ``pipeline/not-joined``;
``run_joinable(items, n_consumers, transform)``
  * timing: the caller's first item is held until every consumer is seen blocked in a get
    with no timeout (its main thread in read, or in a futex or poll without one, read from
    ``/proc/<pid>/task/<pid>/syscall``), or until they have waited ``LONG_TIMEOUT``, or one
    has given up: a consumer that returns when ``get(timeout=...)`` finds nothing gives up
    every run, not only when the caller is slower than its timeout
    (``joinable/consumer-gives-up``); one that keeps waiting in short timed gets passes;
  * the transform of the item that completes the set is held until everything else is
    quiet: returning meanwhile means q.join() did not wait (``check_run_joinable``, visible);
  * a hang after every item was transformed is q.join() without task_done();
  * the result of that last item is then held in flight (its consumer has called task_done(),
    its queue's feeder thread has not sent it) until everything is quiet and the caller waits:
    reading the results with get_nowait() after q.join() raises Empty every time
    (``joinable/gives-up-waiting``); a caller that polls is let through after a second;
  * leftovers: consumers still running after the return (daemons do not die in a kernel);
    consumers stopped with ``terminate()`` but never joined are zombies of the caller at the
    return (under forkserver: exit statuses unread in its pipes): ``joinable/not-joined``;
  * process structure: every consumer that took an item must be a daemon, as each process
    tells the judge when it connects (non-daemon consumers stopped by hand otherwise pass
    every check): ``joinable/not-daemon``, after every other judgement (both checks);
  * values and counts: item 0 is falsy; 4 consumers for 3 items: every transform is held
    until the three items are inside transform at once, and 4 processes must be alive then
    (n_consumers, even when there are fewer items), and none may have ended meanwhile (an
    idle consumer whose get(timeout=...) gave up: ``joinable/consumer-gives-up``); the idle
    one must be stopped too (``check_run_joinable_idle_consumers``). Results are small: the
    contract promises large results only for run_pipeline.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from multiprocessing import util

from . import Verdict, _thread_state, _thread_waits_for, _thread_wchan, _waits_for_ever, check, failed, passed

MODULE = "mpcourse.checks.producer_consumer"
BIG = 256 * 1024               # bytes of a large result: more than any pipe buffer holds
SETTLE = 0.25                  # seconds every process must stay asleep to count as waiting
STALL = 3.0                    # seconds of nothing (no event, every process asleep) before a call counts as hung
PHASE = 2.0                    # the same, before a phase of a check is cut short
CONFIRM_QUIET = 2.0            # seconds every process must stay asleep before too few consumers is a mistake
LONG_TIMEOUT = 3.0             # get(timeout=...) up to this long are outlasted by the judge
PATIENCE = 1.0                 # seconds a caller that polls (time.sleep, not a join) keeps a hold on its processes
HOLD_AT_MOST = 2.5             # seconds a consumer's exit or a result in flight is held at most (below STALL)
#: Windows reports every live process as "running": there, waiting is judged from the events alone
_STATUS_TELLS = sys.platform != "win32"


# --------------------------------------------------------------------------------------
# course objects: they run next to the student's code and report to the judge

_announcing: set = set()           # (pid, recorder) pairs whose children announce themselves


def _announce_children(recorder) -> None:
    """Every process started from here, or that unpickles our objects, tells the judge it was born.

    So the judge knows a consumer even if it ends before anyone could see it running
    (``Process.start()`` reaps children that have already ended).
    """
    key = (os.getpid(), recorder._oid)
    if key not in _announcing:
        _announcing.add(key)
        util.register_after_fork(recorder, _born)


def _born(recorder) -> None:
    key = ("born", os.getpid(), recorder._oid)
    if key not in _announcing:
        _announcing.add(key)
        # from a thread of its own: this thread's connection must stay the one the process's call reports on
        announcer = threading.Thread(target=recorder.ask, args=("born",), daemon=True)
        announcer.start()
        announcer.join(10)


class Item(int):
    """An item of a batch. Pickling it (a queue sending it on) asks the judge first."""

    def __new__(cls, n: int, recorder):
        item = int.__new__(cls, n)
        item.recorder = recorder
        _announce_children(recorder)
        return item

    def __reduce__(self):
        self.recorder.ask("pickle", int(self))        # the judge answers when this item may go
        return Item, (int(self), self.recorder)

    def __repr__(self) -> str:
        return f"Item({int(self)})"


def result_of(n: int, big_items: int = 0):
    """transform(item n): n * 10, or, for the first ``big_items`` items, BIG bytes that say which item it was."""
    if n >= big_items:
        return n * 10
    head = b"result %d:" % n
    return head + b"." * (BIG - len(head))


_exit_announced: set = set()       # (pid, recorder) pairs that ask the judge before they exit


def _ask_before_exit(recorder) -> None:
    """A consumer (a child process that called transform) asks the judge "exit" as the very last thing it does.

    Registered with the lowest priority of multiprocessing's exit handlers, so the question
    comes after the process's queues have flushed every result: a consumer held there has
    delivered everything, and only a caller that joins it waits for it.
    """
    key = (os.getpid(), recorder._oid)
    if key in _exit_announced or multiprocessing.parent_process() is None:
        return
    _exit_announced.add(key)
    util.Finalize(None, _exiting, args=(recorder,), exitpriority=-100)


def _exiting(recorder) -> None:
    try:
        recorder.ask("exit")
    except Exception:               # the judge has gone: nothing left to tell
        pass


class SentResult(int):
    """A result whose sending (pickling, in the consumer queue's feeder thread) asks the judge first.

    It arrives as a plain int: the judge can hold a result in flight after the consumer has
    called task_done(), which is what q.join() waits for.
    """

    def __new__(cls, value: int, n: int, recorder):
        result = int.__new__(cls, value)
        result.n, result.recorder = n, recorder
        return result

    def __reduce__(self):
        self.recorder.ask("send", self.n)
        return int, (int(self),)


class Transform:
    """The ``transform`` handed to the student: asks the judge "take n", then returns the result."""

    def __init__(self, recorder, big_items: int = 0, results_ask: bool = False):
        self.recorder = recorder
        self.big_items = big_items
        self.results_ask = results_ask
        _announce_children(recorder)

    def __setstate__(self, state: dict) -> None:
        """Unpickled in a process the stage spawned (spawn, forkserver): it says it was born, at once."""
        self.__dict__.update(state)
        _announce_children(self.recorder)
        _born(self.recorder)

    def __call__(self, item):
        if isinstance(item, Item):
            _ask_before_exit(self.recorder)
            self.recorder.ask("take", int(item))
            result = result_of(int(item), self.big_items)
            if self.results_ask and isinstance(result, int):
                return SentResult(result, int(item), self.recorder)
            return result
        self.recorder.ask("take-other", "None" if item is None else repr(item)[:40])
        return None if item is None else ("not an item", repr(item)[:40])

    def __repr__(self) -> str:
        return "transform"


def _as_data(obj):
    if isinstance(obj, Item):
        return ("item", int(obj))
    return ("none",) if obj is None else ("value", obj)


def _seconds(timeout):
    return None if timeout is None else max(float(timeout), 0.0)


class CheckerQueue:
    """A queue whose contents the judge holds: each call is a question it answers when it chooses."""

    def __init__(self, recorder, name: str = "q"):
        self.recorder = recorder
        self.name = name

    def put(self, obj, block: bool = True, timeout=None) -> None:
        self.recorder.ask("put", self.name, _as_data(obj), bool(block), _seconds(timeout))

    def put_nowait(self, obj) -> None:
        self.put(obj, False)

    def get(self, block: bool = True, timeout=None):
        kind, *value = self.recorder.ask("get", self.name, bool(block), _seconds(timeout))
        if kind == "item":
            return Item(value[0], self.recorder)
        return None if kind == "none" else value[0]

    def get_nowait(self):
        return self.get(False)

    def empty(self) -> bool:
        return bool(self.recorder.ask("empty", self.name))

    def full(self) -> bool:
        return bool(self.recorder.ask("full", self.name))

    def qsize(self) -> int:
        return int(self.recorder.ask("qsize", self.name))

    def close(self) -> None:
        pass

    def join_thread(self) -> None:
        pass

    def cancel_join_thread(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"<queue {self.name}>"


def make_batches(recorder, sizes: list) -> list:
    """Batches of Items numbered from 0 across batches (item 0 is falsy)."""
    batches, n = [], 0
    for size in sizes:
        batches.append([Item(i, recorder) for i in range(n, n + size)])
        n += size
    return batches


def make_items(recorder, count: int) -> list:
    return [Item(i, recorder) for i in range(count)]


# --------------------------------------------------------------------------------------
# the judge's side

def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _were(n: int) -> str:
    return "was" if n == 1 else "were"


class _Watch:
    """The stage's processes as the OS shows them, polled by the judge: who started, who ended, who sleeps."""

    def __init__(self, judge, flow: _Flow):
        self.judge, self.flow = judge, flow
        self.seen: dict[int, dict] = {}         # pid -> the process when first seen
        self.ended: dict[int, float] = {}       # pid -> when it was first seen ended
        self.alive: dict[int, dict] = {}        # pid -> its latest state
        self.asleep: dict[int, bool] = {}       # pid -> asleep at the last poll (as drawn)
        self.candidates: dict[int, float] = {}  # pid -> when first seen; it counts from the second sighting
        self.quiet_since: float | None = None
        self.scanned_from = 0.0                 # when the latest finished look at the OS began
        self.caller_asleep_since: float | None = None    # every thread of the caller waits in the kernel
        self.caller_looks: list[tuple[float, bool]] = []  # (when a look began, no thread of the caller runnable)
        self.caller_joins: set[int] = set()               # the pids the caller waits for in os.waitpid (a join)

    def born(self, pid: int) -> None:
        """A process said it was born (under judge.cv): it counts even if it ends before the next poll."""
        if pid not in self.seen:
            self.seen[pid] = {"pid": pid}
            self.judge.record("state", "running", "started", name=self.flow.name(pid), pid=pid)

    def poll(self) -> None:
        with self.flow.cv:
            known = list(self.seen)            # a process born while we look is judged at the next poll
        scan_started = time.perf_counter()
        everything = self.judge.processes()
        stage = self.judge.stage_peer.host_pid if self.judge.stage_peer else None
        caller_asleep, caller_idle, caller_joins = (True, True, set()) if stage is None else _caller_threads(stage)
        helpers = {p["pid"] for p in everything if p["is_stage"] or p["helper"]}
        current = {p["pid"]: p for p in everything if p["pid"] not in helpers}
        with self.flow.cv:
            self._update(known, current, helpers)
            self.scanned_from = scan_started
            now = time.perf_counter()
            if not caller_asleep:
                self.caller_asleep_since = None
            elif self.caller_asleep_since is None:
                self.caller_asleep_since = now
            self.caller_looks = self.caller_looks[-400:] + [(scan_started, caller_idle)]
            self.caller_joins = caller_joins

    def ended_consumers(self) -> list[int]:
        """The student's processes seen running that have ended (the caller is never among them: it is the stage)."""
        return [pid for pid in self.ended if pid in self.seen]

    def caller_waits(self, settle: float = SETTLE) -> bool:
        """The caller (every thread of the stage) has waited in the kernel for ``settle`` s: blocked, not slow.

        A caller descheduled on a loaded machine is runnable, and one in ``time.sleep`` only
        pauses; a result let through then would reach a results.get_nowait() that should
        have found it missing.
        """
        return self.caller_asleep_since is not None and time.perf_counter() - self.caller_asleep_since >= settle

    def caller_waited_since(self, moment: float, settle: float = SETTLE) -> bool:
        """The caller was seen waiting in the kernel in every look since ``moment``, for ``settle`` s.

        Only looks begun after ``moment`` count: a caller woken just then (a result it can
        read arrived) may not have been seen running by an older look.
        """
        since = self.caller_asleep_since
        return (since is not None and self.scanned_from > moment and
                time.perf_counter() - max(since, moment) >= settle)

    def caller_idled_since(self, moment: float, seconds: float) -> bool:
        """``seconds`` have passed since ``moment`` and the caller was not runnable in most looks since.

        A caller that polls (``time.sleep`` between looks at its children) is seen runnable
        now and then; one that only has to read what is there and return is runnable until
        it has returned, even when the machine is too busy to run it.
        """
        looks = [idle for began, idle in self.caller_looks if began > moment]
        return time.perf_counter() - moment >= seconds and len(looks) >= 5 and sum(looks) >= 0.8 * len(looks)

    def _update(self, known: list[int], current: dict[int, dict], helpers: set[int]) -> None:
        now = time.perf_counter()
        changed = False
        for pid, info in current.items():
            if pid in self.seen or not info["alive"]:     # a zombie never seen alive: not worth a lane
                continue
            first = self.candidates.setdefault(pid, now)
            if first < now:                    # seen twice: not a helper caught between its fork and its exec
                self.seen[pid] = info
                self.flow.progress(now)
                changed = True
                self.judge.record("state", "running", "started", name=self.flow.name(pid), pid=pid,
                                  at=min(max(info["started"], self.flow.t0), first))
        for pid in known:
            if pid in helpers:                 # it was multiprocessing's resource tracker or fork server starting
                self.seen.pop(pid, None)
                continue
            if pid not in self.ended and (pid not in current or not current[pid]["alive"]):
                self.ended[pid] = now
                self.flow.progress(now)
                changed = True
                self.judge.record("mark", "ended", name=self.flow.name(pid), pid=pid, at=now)
                self.judge.record("state", "exited", name=self.flow.name(pid), pid=pid, at=now)
        self.alive = {pid: p for pid, p in current.items() if p["alive"]}
        if _STATUS_TELLS:
            for pid, info in self.alive.items():          # the picture: who the OS shows asleep, who running
                asleep = info["status"] in ("sleeping", "idle", "stopped")
                if pid in self.seen and self.asleep.get(pid) != asleep:
                    self.asleep[pid] = asleep
                    self.judge.record("state", "blocked" if asleep else "running", "asleep" if asleep else "",
                                      name=self.flow.name(pid), pid=pid, at=now)
        busy = _STATUS_TELLS and any(p["status"] not in ("sleeping", "idle", "stopped") for p in self.alive.values())
        if busy:
            self.flow.progress(now)             # a process that starts up slowly on a loaded machine is not stuck
        if busy or changed:
            self.quiet_since = None
        elif self.quiet_since is None:
            self.quiet_since = now

    def quiet(self, settle: float = SETTLE) -> bool:
        """Every process of the student's has been asleep (or gone) for ``settle`` seconds.

        Counted from the latest event too (a process that just took an item was not
        asleep), and only on a look at the OS begun after that event: under load one look
        can take longer than it takes new workers to start and take items, and an older
        look would show none of them.
        """
        if self.quiet_since is None or self.scanned_from < self.flow.last_progress:
            return False
        return time.perf_counter() - max(self.quiet_since, self.flow.last_progress) >= settle


def _caller_threads(host_pid: int) -> tuple[bool, bool, set[int]]:
    """(every thread waits in the kernel for something, no thread is runnable, the pids joined), from /proc.

    A thread in ``time.sleep`` (wchan ``*nanosleep``) only pauses: it will go on by itself
    whether or not anything arrives, so it is idle but does not count as waiting. The pids
    joined are those a thread waits for in ``os.waitpid`` (``Process.join()`` under fork and
    spawn; forkserver's join waits on a pipe instead). (True, True, none) where the OS cannot tell.
    """
    folder = f"/proc/{host_pid}/task"
    try:
        tasks = [os.path.join(folder, tid) for tid in os.listdir(folder)]
    except OSError:
        return True, True, set()
    waits, joins = True, set()
    for task in tasks:
        state, where = _thread_state(task), _thread_wchan(task)
        if state is None or where is None:
            continue
        if state not in ("S", "D", "T", "t", "I"):
            return False, False, set()
        if "nanosleep" in where:
            waits = False
        pid = _thread_waits_for(task)
        if pid is not None:
            joins.add(pid)
    return waits, True, joins


class _Flow:
    """One run of the student's code: what the judge let through, who put and took what, and when."""

    def __init__(self, judge, sizes: list[int] = (), big_items: int = 0, name: str = "pipeline"):
        self.judge = judge
        self.cv = judge.cv
        self.t0 = time.perf_counter()
        self.recorder = judge.recorder(name)
        self.stage = judge.stage_peer.pid if judge.stage_peer else None
        self.sizes = list(sizes)
        self.batches: list[list[int]] = []
        n = 0
        for size in self.sizes:
            self.batches.append(list(range(n, n + size)))
            n += size
        self.total = n
        self.big_items = big_items
        self.caller_puts = False                 # True: the caller's own sends are the puts (run_joinable)
        self.put_by: dict[int, int] = {}        # item -> the pid that first sent it (not the caller)
        self.put_at: dict[int, float] = {}      # item -> when the judge let it go
        self.waiting_puts: dict[int, int] = {}  # item -> pid, held by the judge now
        self.takes: list[tuple[float, int, int]] = []        # (when, item, pid) of each transform
        self.in_transform: dict[int, int] = {}  # pid -> item, inside transform now
        self.transformed: list[float] = []      # when each transform returned
        self.strange: list[tuple[int, str]] = []              # transform called on something else
        self.names: dict[int, str] = {}
        self.roles: dict[int, str] = {}         # pid -> the row name a check gives it ("your consumer")
        self.hold_put = lambda n, pid: False    # the check's policies, evaluated under judge.cv
        self.hold_take = lambda n, pid: False
        self.hold_exit = lambda pid: False
        self.hold_send = lambda n, pid: False
        self.hold_caller_put = lambda n: False  # run_joinable: the caller's own send of item n
        self.said_born: set[int] = set()        # processes that got the judge's objects (their start-up is over)
        self.call = None                        # the student's call, once started
        self.exiting: dict[int, float] = {}     # consumer pid -> when it asked to exit (every result sent by then)
        self.exits_released = False             # every consumer's exit let go
        self.exit_released: set[int] = set()    # the consumers let go one by one (the caller joined each)
        self.held_sends: dict[int, float] = {}  # item -> when the judge began holding its result in flight
        self.sends_released = False
        self.last_progress = time.perf_counter()
        self.watch = _Watch(judge, self)
        self.recorder.on("pickle", self._pickle)
        self.recorder.on("take", self._take)
        self.recorder.on("take-other", self._take_other)
        self.recorder.on("born", self._born)
        self.recorder.on("exit", self._exit)
        self.recorder.on("send", self._send)

    # -- requests from the student's processes (each in its own judge thread) ---------------
    def _pickle(self, peer, n) -> None:
        if not isinstance(n, int):
            return
        with self.cv:
            if peer.pid == self.stage and self.caller_puts and n not in self.put_at:
                if self.hold_caller_put(n):                      # the caller puts the items itself (run_joinable)
                    self.judge.record("mark", "held", f"item {n} until the consumers wait", peer=peer)
                    while self.hold_caller_put(n) and not self.judge.closed:
                        self.cv.wait(0.05)
                self.put_at[n] = time.perf_counter()
                self.progress()
                return
            if peer.pid == self.stage or n in self.put_by:
                return                           # handed to a child being started, or passed on (a Manager)
            self.put_by[n] = peer.pid
            self.names.setdefault(peer.pid, peer.name)
            self.waiting_puts[n] = peer.pid
            self.cv.notify_all()
            if self.hold_put(n, peer.pid):
                self.judge.record("state", "blocked", f"put {n}: the checker holds it", peer=peer)
                while self.hold_put(n, peer.pid) and not self.judge.closed:
                    self.cv.wait(0.05)
            del self.waiting_puts[n]
            self.put_at[n] = time.perf_counter()
            self.judge.record("mark", "put", str(n), peer=peer)
            self.judge.record("state", "running", peer=peer)
            self.progress()
            self.cv.notify_all()

    def _take(self, peer, n) -> None:
        if not isinstance(n, int):
            return
        with self.cv:
            self.takes.append((time.perf_counter(), n, peer.pid))
            self.names.setdefault(peer.pid, peer.name)
            self.in_transform[peer.pid] = n
            self.judge.record("mark", "take", str(n), peer=peer)
            self.judge.record("state", "running", f"transform({n})", peer=peer)
            self.progress()
            self.cv.notify_all()
            if self.hold_take(n, peer.pid):
                self.judge.record("state", "blocked", f"transform({n}): the checker holds it", peer=peer)
                while self.hold_take(n, peer.pid) and not self.judge.closed:
                    self.cv.wait(0.05)
                self.judge.record("state", "running", f"transform({n})", peer=peer)
            self.in_transform.pop(peer.pid, None)
            self.transformed.append(time.perf_counter())
            self.progress()
            self.cv.notify_all()

    def _born(self, peer) -> None:
        if peer.pid == self.stage:
            return                               # the stage unpickling the transform it hands on
        with self.cv:
            self.names.setdefault(peer.pid, peer.name)
            self.said_born.add(peer.pid)
            self.watch.born(peer.pid)
            self.progress()
            self.cv.notify_all()

    def _exit(self, peer) -> None:
        with self.cv:
            self.exiting[peer.pid] = time.perf_counter()
            self.progress()
            self.cv.notify_all()
            if self.hold_exit(peer.pid):
                self.judge.record("state", "blocked", "exit: the checker holds it", peer=peer)
                while self.hold_exit(peer.pid) and not self.judge.closed:
                    self.cv.wait(0.05)

    def _send(self, peer, n) -> None:
        with self.cv:
            if not self.hold_send(n, peer.pid):
                return
            self.held_sends[n] = time.perf_counter()
            self.judge.record("mark", "result held", f"the result of {n}, on its way: the checker holds it",
                              peer=peer)
            self.progress()
            self.cv.notify_all()
            while self.hold_send(n, peer.pid) and not self.judge.closed:
                self.cv.wait(0.05)
            self.progress()
            self.cv.notify_all()

    def _release_when_waited(self) -> None:
        """Let held exits and results go once only they keep the caller waiting (under cv, after a look).

        Exits: a consumer the caller joins (os.waitpid: fork, spawn) goes, and only that one,
        so one left unjoined is still running when the caller returns. Where the join cannot
        be seen (forkserver, a join with a timeout), all go once every consumer alive is held
        at its exit (so every result is out) and the caller has waited since. A result in
        flight: everything is quiet and the caller has waited since (results.get); one that
        reads with get_nowait() after q.join() finds it missing.
        """
        if self.call is None or self.call.finished.is_set():
            return
        joined = {pid for pid in self.watch.caller_joins if pid in self.exiting} - self.exit_released
        if joined and not self.exits_released:
            self.exit_released |= joined
            self.progress()
            self.cv.notify_all()
        if self.exiting and not self.exits_released and not self.watch.caller_joins:
            last = max(self.exiting.values())
            held = all(pid in self.exiting for pid in self.consumers() if pid in self.watch.alive)
            if held and (self.watch.caller_waited_since(last) or self.watch.caller_idled_since(last, PATIENCE) or
                         time.perf_counter() - last >= HOLD_AT_MOST):
                self.exits_released = True
                self.progress()
                self.cv.notify_all()
        if self.held_sends and not self.sends_released:
            since = max(self.held_sends.values())
            if (self.watch.quiet() and (self.watch.caller_waited_since(since) or
                                        self.watch.caller_idled_since(since, PATIENCE))) or \
                    time.perf_counter() - since >= HOLD_AT_MOST:
                self.sends_released = True
                self.progress()
                self.cv.notify_all()

    def _take_other(self, peer, what) -> None:
        with self.cv:
            self.strange.append((peer.pid, str(what)))
            self.judge.record("mark", f"transform({what})", peer=peer)
            self.progress()

    # -- what the judge knows ---------------------------------------------------------------
    def progress(self, at: float | None = None) -> None:
        self.last_progress = at or time.perf_counter()

    def name(self, pid: int) -> str:
        return self.names.get(pid) or f"process {pid}"

    def taken(self) -> set[int]:
        return {n for _t, n, _pid in self.takes}

    def producers(self) -> set[int]:
        return set(self.put_by.values())

    def consumers(self) -> set[int]:
        return {pid for _t, _n, pid in self.takes}

    def waiting_producers(self) -> set[int]:
        return set(self.waiting_puts.values())

    def others_alive(self) -> list[int]:
        """Processes of the student's that are alive and have sent no item (consumers, a Manager...)."""
        producers = self.producers()
        return [pid for pid in self.watch.alive if pid not in producers]

    def ended_non_producers(self) -> list[int]:
        producers = self.producers()
        return [pid for pid in self.watch.ended if pid not in producers]

    def stopped_early(self) -> bool:
        """A process that sent no item ended while the producers (seen at work) still had items to put."""
        return bool(self.ended_non_producers()) and bool(self.put_by) and len(self.put_at) < self.total

    def available(self) -> int:
        """Items the judge let go that no transform has taken yet (in the queue, or in flight)."""
        return len(set(self.put_at) - self.taken())

    def wait_until(self, condition, stall: float = STALL, cap: float = 20.0) -> bool:
        """Poll the processes until ``condition()``; give up after ``stall`` s of no progress (or after ``cap``).

        Progress is a put, a take, a process starting or ending, or any process running.
        """
        deadline = time.monotonic() + cap
        started = time.perf_counter()
        while True:
            self.watch.poll()
            with self.cv:
                self._release_when_waited()
                if condition():
                    return True
                quiet_too_long = time.perf_counter() - max(self.last_progress, started) > stall
            if quiet_too_long or time.monotonic() > deadline or self.judge.lost.is_set():
                return False
            with self.cv:
                self.cv.wait(0.03)

    def release(self) -> None:
        with self.cv:
            self.hold_put = lambda n, pid: False
            self.hold_take = lambda n, pid: False
            self.cv.notify_all()

    def events(self) -> list:
        """The judge's events, each process's row named by its role."""
        roles = dict(self.roles)
        if len(self.batches) > 1:
            roles.update({pid: f"producer of batch {b + 1}" for b, batch in enumerate(self.batches)
                          for pid in {self.put_by[n] for n in batch if n in self.put_by}})
        for i, pid in enumerate(sorted(self.consumers() - set(roles), key=self._first_take)):
            roles[pid] = f"consumer {i + 1}"
        return [e._replace(name=roles.get(e.pid, e.name)) for e in self.judge.events()]

    def _first_take(self, pid: int) -> float:
        return min((t for t, _n, p in self.takes if p == pid), default=0.0)

    # -- verdict helpers --------------------------------------------------------------------------
    def results_problem(self, got) -> tuple[str, str] | None:
        """(mistake slug, sentence part) when ``got`` is not every result exactly once."""
        expected = [result_of(n, self.big_items) for n in range(self.total)]
        if not isinstance(got, (list, tuple)):
            return "wrong-results", f"returned {_describe(got)}, expected a list of the {self.total} results"
        if any(r is None for r in got):
            return "transform-on-sentinel", ("returned None among the results: transform was called on the "
                                            "sentinel; stop at None before calling transform")
        counts: dict = {}
        for r in got:
            key = _key(r)
            if key is None:
                return "wrong-results", (f"returned {_describe(r)} among the results, which is not "
                                         "transform(item) of any item")
            counts[key] = counts.get(key, 0) + 1
        want = {_key(r): 1 for r in expected}
        if counts == want:
            return None
        twice = sorted(k for k, c in counts.items() if c > 1)
        missing = sorted(k for k in want if k not in counts)
        alien = [r for r in got if _key(r) not in want]
        if alien:
            return "wrong-results", f"returned {_describe(alien[0])}, which is not transform(item) of any item"
        if twice:
            return "duplicate-results", (f"returned {len(got)} results for {self.total} items: the result of item "
                                         f"{_item_of(twice[0])} came back more than once")
        return "lost-items", (f"returned {_plural(len(got), 'result')} for {self.total} items: "
                              f"{_plural(len(missing), 'item')} (e.g. item {_item_of(missing[0])}) never came back")

    def producer_problem(self) -> str | None:
        """A sentence when the batches were not put by one process each, in order."""
        owner_of: dict[int, int] = {}
        for b, batch in enumerate(self.batches):
            pids = {self.put_by[n] for n in batch if n in self.put_by}
            if not pids:
                return (f"no process of its own put the items of batch {b + 1} (the caller put them, or they were "
                        "never put): start one producer process per batch, running producer(q, batch)")
            if len(pids) > 1:
                return (f"the items of batch {b + 1} were put by {len(pids)} different processes: one producer "
                        "process per batch puts all of that batch's items")
            pid = pids.pop()
            if pid in owner_of:
                return (f"one process put the items of batches {owner_of[pid] + 1} and {b + 1}: start one producer "
                        "process per batch")
            owner_of[pid] = b
            order = sorted((n for n in batch if n in self.put_at), key=self.put_at.get)
            if order != sorted(order):
                return (f"the producer of batch {b + 1} put its items in the order {order}: put them in the order "
                        "given")
        return None


def _key(result):
    if isinstance(result, int) and not isinstance(result, bool):
        return ("n", result)
    if isinstance(result, bytes):
        return ("b", result[:24], len(result))
    return None


def _item_of(key) -> str:
    if key[0] == "n":
        return str(key[1] // 10)
    head = key[1].split(b":")[0]
    return head.decode(errors="replace").replace("result ", "")


def _describe(value) -> str:
    if isinstance(value, (bytes, bytearray)) and len(value) > 40:
        return f"{len(value)} bytes starting {bytes(value[:16])!r}"
    text = repr(value)
    return text if len(text) <= 70 else text[:70] + "..."


def _stuck_lines(judge) -> list[str]:
    """Where the student's code is stuck, in its own lines (at most two), as the stage reports it."""
    return [line for line in judge.stacks() if "your code" in line][:2]


def _stuck(judge, lines: list[str] | None = None) -> str:
    where = _stuck_lines(judge) if lines is None else lines
    return f" ({'; '.join(where)})" if where else ""


def _left_running(flow: _Flow, grace: float = 1.5) -> list[int]:
    """The student's processes still alive ``grace`` s after the call returned."""
    flow.progress()
    flow.wait_until(lambda: not flow.watch.alive, stall=grace, cap=grace)
    return sorted(flow.watch.alive)


def _never_joined(flow: _Flow) -> int:
    """How many of the student's processes ended but were never waited for by the caller.

    Under fork and spawn such a process stays a zombie of the caller until it is joined (or
    polled with ``is_alive()``); under forkserver its exit status stays unread in the
    caller's pipe. So this judges the structure, not the timing: it holds for a consumer
    that skips the exit the judge holds (``os._exit``, a SIGTERM from ``terminate()``) as for
    one that happened to end just before the return.
    """
    from . import _unread_exit_statuses

    found = flow.judge.processes()
    servers = {p["pid"] for p in found if p["helper"] and "multiprocessing.forkserver" in p["cmdline"]}
    deadline = time.monotonic() + 3.0
    while servers and time.monotonic() < deadline and any(   # a status the server has yet to write
            (not p["alive"] and p["ppid"] in servers) or (p["pid"] in servers and p["status"] != "sleeping")
            for p in found):
        time.sleep(0.05)
        found = flow.judge.processes()
    zombies = [p for p in found if p["child_of_stage"] and not p["alive"] and not p["helper"] and not p["is_stage"]]
    stage = flow.judge.stage_peer.host_pid if flow.judge.stage_peer else None
    if stage is None:
        return len(zombies)
    return len(zombies) + _unread_exit_statuses(stage, [p["host_pid"] for p in found if not p["is_stage"]])


# --------------------------------------------------------------------------------------
# the consumer and the producer alone, on queues the judge holds

class _Queues:
    """The judge's side of ``CheckerQueue``: contents, who asked what, and when each get may be answered."""

    def __init__(self, flow: _Flow, maxsize: dict | None = None):
        self.flow, self.judge, self.cv = flow, flow.judge, flow.cv
        self.items: dict[str, list] = {"q": [], "results": []}
        self.maxsize = maxsize or {}
        self.calls: list[tuple[float, str, str]] = []       # (when, name, what) of every question
        self.pending: dict | None = None                     # the get the consumer is blocked in
        self.expired = 0                                     # timed gets answered Empty since the last delivery
        self.polls = 0                                       # empty()/get_nowait() answered "nothing" since then
        self.blocked_puts = 0
        self.refused_full = 0                                # puts refused with Full, and full() answered True
        self.delivered: list = []
        self.got: list = []                                  # what the consumer got, in order
        self.taken: list = []                                # what the judge took off a producer's queue
        for question in ("get", "put", "empty", "full", "qsize"):
            flow.recorder.on(question, getattr(self, "_" + question))

    def _note(self, peer, name: str, what: str) -> None:
        self.calls.append((time.perf_counter(), name, what))
        self.flow.names.setdefault(peer.pid, peer.name)
        self.flow.progress()

    def _get(self, peer, name, block, timeout):
        name = "results" if name == "results" else "q"
        call = "q.get()" if block and timeout is None else (f"q.get(timeout={timeout:g})" if block else
                                                             "q.get_nowait()")
        with self.cv:
            self._note(peer, name, call)
            since = time.perf_counter()
            until = None if not block or timeout is None else since + timeout
            if not self.items[name]:
                self.judge.record("state", "blocked", call, peer=peer)
            self.pending = {"block": bool(block), "timeout": timeout, "since": since}
            self.cv.notify_all()
            try:
                while not self.items[name]:
                    if not block:
                        self.polls += 1
                        raise _refusal("Empty")
                    if until is not None and time.perf_counter() >= until:
                        self.expired += 1
                        self.judge.record("mark", "Empty", "its get timed out", peer=peer)
                        raise _refusal("Empty")
                    if self.judge.closed:
                        raise _refusal("Empty")
                    self.cv.wait(0.02)
            finally:
                self.pending = None
                self.cv.notify_all()
            item = self.items[name].pop(0)
            self.got.append(item)
            self.judge.record("state", "running", peer=peer)
            self.judge.record("mark", "got", _shown(item), peer=peer)
            self.cv.notify_all()
            return item

    def _put(self, peer, name, data, block, timeout):
        name = "results" if name == "results" else "q"
        data = tuple(data) if isinstance(data, (list, tuple)) else ("value", data)
        with self.cv:
            self._note(peer, name, "put")
            limit = self.maxsize.get(name, 0)
            if limit and len(self.items[name]) >= limit:
                if not block:
                    self.polls += 1
                    self.refused_full += 1
                    raise _refusal("Full")
                until = None if timeout is None else time.perf_counter() + timeout
                self.blocked_puts += 1
                self.judge.record("state", "blocked", "q.put(): the queue is full", peer=peer)
                self.cv.notify_all()
                try:
                    while len(self.items[name]) >= limit and not self.judge.closed:
                        if until is not None and time.perf_counter() >= until:
                            self.refused_full += 1
                            raise _refusal("Full")
                        self.cv.wait(0.02)
                finally:
                    self.blocked_puts -= 1
                self.judge.record("state", "running", peer=peer)
            self.items[name].append(data)
            self.judge.record("mark", "put" if name == "q" else "result", _shown(data), peer=peer)
            self.cv.notify_all()

    def _empty(self, peer, name):
        with self.cv:
            self._note(peer, name, "q.empty()")
            if not self.items.get(name):
                self.polls += 1
            return not self.items.get(name)

    def _qsize(self, peer, name):
        with self.cv:
            self._note(peer, name, "q.qsize()")
            if not self.items.get(name):
                self.polls += 1
            return len(self.items.get(name, []))

    def _full(self, peer, name):
        with self.cv:
            self._note(peer, name, "q.full()")
            limit = self.maxsize.get(name, 0)
            full = bool(limit) and len(self.items.get(name, [])) >= limit
            self.polls += full
            self.refused_full += full
            return full

    # -- the judge's moves ----------------------------------------------------------------
    def waits_long_enough(self) -> bool:
        """The consumer waits for the next item and has outlasted its own patience (under judge.cv)."""
        pending = self.pending
        if pending is not None and pending["block"]:
            timeout = pending["timeout"]
            if (timeout is None or timeout > LONG_TIMEOUT) and time.perf_counter() - pending["since"] >= SETTLE:
                return True
            if self.expired:
                return True
        return self.polls >= 3

    def deliver(self, data: tuple, by: str = "the checker") -> None:
        with self.cv:
            self.items["q"].append(data)
            self.delivered.append(data)
            self.expired = self.polls = 0
            self.judge.record("mark", "puts", _shown(data), name=by, pid=0)
            self.flow.progress()
            self.cv.notify_all()

    def take(self, by: str = "the checker"):
        with self.cv:
            data = self.items["q"].pop(0)
            self.taken.append(data)
            self.polls = 0
            self.judge.record("mark", "takes", _shown(data), name=by, pid=0)
            self.flow.progress()
            self.cv.notify_all()
            return data

    def how_it_looked(self) -> str:
        """Which call the consumer used to decide the queue was empty."""
        asked = {what.split("(")[0] + ("(timeout)" if "timeout" in what else "") for _t, _n, what in self.calls}
        for call, said in (("q.empty", "q.empty() said True"), ("q.qsize", "q.qsize() said 0"),
                           ("q.get_nowait", "q.get_nowait() raised queue.Empty"),
                           ("q.get(timeout)", "its q.get(timeout=...) ran out")):
            if call in asked:
                return said
        return ""


def _refusal(name: str):
    from ..judge import Refusal

    return Refusal(name, "")


def _shown(data) -> str:
    if isinstance(data, tuple) and data:
        return "None" if data[0] == "none" else str(data[1])[:20] if len(data) > 1 else str(data)
    return str(data)[:20]


def _probe_consumer(judge, consumer) -> tuple[str, str, _Flow, object]:
    """Run ``consumer`` alone on the judge's queues: items 0, 1, 2 then None, each delivered late.

    Returns (problem, detail, flow, call); problem is "" when it behaved, else "empty"
    (it ended before its sentinel), "falsy" (it ended at item 0), "no-stop", "stuck",
    "raised", "transform-none" or "results".
    """
    flow = _Flow(judge, [3], name="consumer alone")
    queues = _Queues(flow)
    rec = flow.recorder
    q = judge.make(f"{MODULE}:CheckerQueue", rec, "q")
    results = judge.make(f"{MODULE}:CheckerQueue", rec, "results")
    transform = judge.make(f"{MODULE}:Transform", rec, 0)
    call = judge.call(consumer, q, results, transform, mode="process", name="consumer")
    flow.wait_until(lambda: call.pid is not None or call.finished.is_set(), stall=PHASE)
    flow.roles[call.pid] = "your consumer"
    for data in [("item", 0), ("item", 1), ("item", 2), ("none",)]:
        if not flow.wait_until(lambda: queues.waits_long_enough() or call.exited.is_set(), stall=LONG_TIMEOUT + 1.5):
            return "stuck", "", flow, call
        if call.exited.is_set():
            break
        queues.deliver(data)
        if data[0] == "item":
            flow.wait_until(lambda d=data: d[1] in flow.taken() or call.exited.is_set() or
                            (len(queues.got) >= len(queues.delivered) and queues.pending is not None), stall=PHASE)
    flow.wait_until(lambda: call.exited.is_set(), stall=PHASE)
    if call.status == "raised":
        call.wait(0)
        return "raised", call.error(), flow, call
    if not call.exited.is_set():
        asked_q = any(name == "q" for _t, name, what in queues.calls if what.startswith("q.get"))
        if not asked_q:                                  # it waits elsewhere (on results.get(), say)
            return "stuck", "", flow, call
        return ("no-stop" if queues.delivered and queues.delivered[-1] == ("none",) else "stuck"), "", flow, call
    if flow.strange and any(what == "None" for _pid, what in flow.strange):
        return "transform-none", "", flow, call
    if not queues.delivered or queues.delivered[-1] != ("none",):
        if queues.got and queues.got[-1] == ("item", 0) and 0 not in flow.taken():
            return "falsy", "", flow, call
        return "empty", queues.how_it_looked(), flow, call
    got = [d[1] if d[0] == "value" else None for d in queues.items["results"]]
    if got != [0, 10, 20]:
        return "results", _describe(got), flow, call
    return "", "", flow, call


@check(timeout=30, label="consumer")
def check_consumer(judge, consumer) -> Verdict:
    """consumer(q, results, transform) waits out slow producers, survives item 0, stops only at None."""
    problem, detail, flow, call = _probe_consumer(judge, consumer)
    events = flow.events()
    title = "consumer(q, results, transform): items 0, 1, 2 arrive late, then None"
    if not problem:
        return passed("it waited for late items, kept item 0, put [0, 10, 20] on results and stopped at None")
    if problem == "raised":
        return failed("pipeline/consumer-raised", f"consumer(q, results, transform) raised {detail}.", events,
                      title=title)
    if problem == "empty":
        how = f" ({detail})" if detail else ""
        return failed("pipeline/stops-when-empty", f"consumer returned while the queue was empty{how}, before its "
                      "sentinel None arrived, so every later item would be lost: an empty queue only means the "
                      "producers are slower; block on q.get() and stop only when it returns None.", events,
                      title=title)
    if problem == "falsy":
        return failed("pipeline/stops-at-falsy-item", "consumer stopped at the item 0, which is falsy but not the "
                      "sentinel: test `item is None`, not `not item`.", events, title=title)
    if problem == "no-stop":
        return failed("pipeline/consumer-ignores-sentinel", "consumer did not return after it received the sentinel "
                      "None: leave the loop when q.get() returns None.", events, title=title)
    if problem == "transform-none":
        return failed("pipeline/transform-on-sentinel", "consumer called transform(None): stop at the sentinel "
                      "before calling transform.", events, title=title)
    if problem == "stuck":
        return failed("pipeline/consumer-never-gets", "consumer never asked the queue q for an item: loop "
                      "on q.get(), put transform(item) on results, stop at None.", events, title=title)
    return failed("pipeline/consumer-wrong-results", f"for the items 0, 1, 2 consumer put {detail} on results, "
                  "expected [0, 10, 20]: put transform(item) on results for every item, nothing else.", events,
                  title=title)


@check(timeout=25, label="producer")
def check_producer(judge, producer) -> Verdict:
    """producer(q, items) puts its 6 items in order on a queue that holds 2, and nothing else."""
    flow = _Flow(judge, [6], name="producer alone")
    queues = _Queues(flow, maxsize={"q": 2})
    items = judge.make(f"{MODULE}:make_items", flow.recorder, 6)
    q = judge.make(f"{MODULE}:CheckerQueue", flow.recorder, "q")
    call = judge.call(producer, q, items, mode="process", name="producer")
    flow.wait_until(lambda: call.pid is not None or call.finished.is_set(), stall=PHASE)
    flow.roles[call.pid] = "your producer"
    title = "producer(q, items) on a queue that holds 2 items"
    while True:          # take an item only once the producer has met the full queue (blocked, or told Full)
        ready = flow.wait_until(lambda: call.exited.is_set() or (
            len(queues.items["q"]) >= 2 and (queues.blocked_puts or queues.polls >= 3)), stall=PHASE)
        if call.exited.is_set() or not ready:
            break
        time.sleep(0.1)
        queues.take()
    while queues.items["q"]:
        queues.take()
    if call.status == "raised":
        call.wait(0)
        return failed("pipeline/producer-raised", f"producer(q, items) raised {call.error()}.", flow.events(),
                      title=title)
    if not call.exited.is_set():
        return failed("pipeline/producer-hangs", "producer(q, items) did not return after its items were taken: put "
                      f"each item once and return{_stuck(judge)}.", flow.events(), title=title)
    got = [_shown(d) for d in queues.taken]
    want = [str(n) for n in range(6)]
    if got == want:
        return passed("it put items 0 to 5 in order, blocking while the queue was full, and nothing else")
    if got[:6] == want:
        return failed("pipeline/producer-puts-sentinel", f"producer(q, items) put {got[6]} after its items: a producer "
                      "puts only its own items; with several producers an extra None stops a consumer while the "
                      "others still produce, so run_pipeline puts the sentinels once every producer has finished.",
                      flow.events(), title=title)
    if sorted(got) == want:
        return failed("pipeline/producer-order", f"producer(q, items) put the items in the order {got}: put them in "
                      "the order given.", flow.events(), title=title)
    lost = [n for n in want if n not in got]
    if lost and queues.refused_full:                   # it met the full queue and did not wait for room
        return failed("pipeline/producer-drops-items", f"producer(q, items) lost {_plural(len(lost), 'item')} "
                      f"({', '.join(lost)}) while the queue was full: q.put(item) blocks until there is room "
                      "(back-pressure); do not give up on a full queue.", flow.events(), title=title)
    return failed("pipeline/producer-wrong-items", f"producer(q, items) put {got} for the items 0 to 5: put each "
                  "item of `items`, in order, and nothing else.", flow.events(), title=title)


# --------------------------------------------------------------------------------------
# run_pipeline

def _start_pipeline(judge, run_pipeline, sizes: list[int], n_consumers: int, maxsize: int, big_items: int = 0):
    flow = _Flow(judge, sizes, big_items)
    batches = judge.make(f"{MODULE}:make_batches", flow.recorder, sizes)
    transform = judge.make(f"{MODULE}:Transform", flow.recorder, big_items)
    text = f"run_pipeline(batches, {n_consumers}, transform, {maxsize})"
    # once every item is out, a consumer's exit waits until the caller waits for it: returning before joining
    # the consumers leaves them running every time, not only when they happen to be slow to end
    flow.hold_exit = lambda pid: (len(flow.put_at) == flow.total and not flow.exits_released and
                                  pid not in flow.exit_released)

    def start():
        flow.call = judge.call(run_pipeline, batches, n_consumers, transform, maxsize, name="run_pipeline")
        return flow.call

    return flow, text, start


def _early_stop(judge, flow: _Flow, consumer, text: str, phase: str) -> Verdict:
    """A process that sent no item ended while producers still had items: stopped on empty, or a sentinel too early."""
    events = flow.events()
    ended = flow.ended_non_producers()
    spans = [(t - 0.02, t + 0.02) for pid, t in flow.watch.ended.items() if pid in ended]
    title = f"{text}: a consumer ended early"
    from ..judge import NotWrittenYet

    problem, how = "", ""
    if consumer is not None and consumer.info.get("callable"):
        try:
            problem, how, _flow, _call = _probe_consumer(judge, consumer)      # which of the two it was
        except NotWrittenYet:
            return failed("answer/not-written", "`consumer` is not written yet (it raises NotImplementedError), so "
                          "the consumers of run_pipeline ended at once.", events, spans, title=title)
    if problem == "empty":
        said = f" ({how})" if how else ""
        return failed("pipeline/stops-when-empty", f"{phase}, a consumer process ended{said} although the producers "
                      "had not finished: an empty queue only means the producers are slower; block on q.get() and "
                      "stop only at the sentinel None.", events, spans, title=title)
    if problem == "falsy":
        return failed("pipeline/stops-at-falsy-item", f"{phase}, a consumer process ended at the item 0, which is "
                      "falsy but not the sentinel: test `item is None`, not `not item`.", events, spans, title=title)
    return failed("pipeline/sentinel-too-early", f"{phase}, a consumer process ended although the producers had not "
                  "finished: a None reached it too early. Put the sentinels only after every producer has finished "
                  "(join them first), one None per consumer, and never let a producer put None.",
                  events, spans, title=title)


def _raised(flow: _Flow, call, text: str, title: str) -> Verdict:
    """The call raised: a queue.Full or queue.Empty means it gave up on a queue that was only slow."""
    if call.error_type.endswith("Full"):
        return failed("pipeline/gives-up-on-full-queue", f"{text} raised {call.error()} while the consumers were busy "
                      "and the queue was full: put the sentinels with q.put(None), which waits for room, not "
                      "put_nowait().", flow.events(), title=title)
    if call.error_type.endswith("Empty"):
        return failed("pipeline/gives-up-waiting", f"{text} raised {call.error()} while a consumer was still "
                      "transforming an item: read the results with results.get(), which waits, not get_nowait() "
                      "or a short timeout.", flow.events(), title=title)
    return failed("pipeline/raised", f"{text} raised {call.error()}.", flow.events(), title=title)


def _finish_pipeline(judge, flow: _Flow, call, text: str, n_consumers: int, big: bool = False) -> Verdict | None:
    """After the judge let everything go: the call's end, results, roles and leftovers."""
    flow.wait_until(lambda: call.finished.is_set(), stall=STALL, cap=30.0)
    title = f"{text}: what your processes did"
    if not call.finished.is_set():
        events = flow.events()
        waiting = [pid for pid in flow.others_alive() if pid not in flow.exiting]
        if len(flow.taken()) == flow.total and big:
            return failed("pipeline/join-before-results", f"{text} never returned although every item was "
                          f"transformed{_stuck(judge)}: with results this large ({BIG // 1024} KB) a consumer "
                          "cannot end until its results have been read (its queue's feeder thread must flush them "
                          "first), so read every result before joining the consumers; and give each consumer its "
                          "own None.", events, title=title)
        if len(flow.taken()) == flow.total and waiting:
            return failed("pipeline/one-sentinel", f"{text} never returned although every item was transformed: "
                          f"{_plural(len(waiting), 'process', 'processes')} of yours still waited (one None stops "
                          f"one consumer){_stuck(judge)}; after the producers finish, put one None per consumer.",
                          events, title=title)
        return failed("pipeline/hangs", f"{text} did not finish, and {len(flow.taken())} of {flow.total} items were "
                      f"transformed{_stuck(judge)}: start the consumers and the producers together, join the "
                      "producers, put one None per consumer, read one result per item, then join the consumers.",
                      events, title=title)
    call.wait(0)
    if call.status != "returned":
        return _raised(flow, call, text, title)
    problem = flow.results_problem(call.value)
    if problem:
        slug, what = problem
        return failed(f"pipeline/{slug}", f"{text} {what}: every item must be transformed exactly once.",
                      flow.events(), title=title)
    skipped = sorted(set(range(flow.total)) - flow.taken())
    if skipped:
        return failed("pipeline/transform-skipped", f"in {text}, transform was never called for item {skipped[0]}: "
                      "the consumers put transform(item) on results for every item.", flow.events(), title=title)
    sentence = flow.producer_problem()
    if sentence:
        return failed("pipeline/producer-count", f"in {text}, {sentence}.", flow.events(), title=title)
    consumers = flow.consumers()
    if len(consumers) > n_consumers:
        return failed("pipeline/consumer-count", f"in {text}, {len(consumers)} processes called transform, more than "
                      f"n_consumers={n_consumers}: start exactly n_consumers consumer processes.", flow.events(),
                      title=title)
    if flow.stage in consumers:
        return failed("pipeline/consumer-count", f"in {text}, the caller itself called transform: the consumers "
                      "run in processes of their own.", flow.events(), title=title)
    left = _left_running(flow)
    if not left:
        unjoined = _never_joined(flow)
        if unjoined:
            return failed("pipeline/not-joined", f"{_plural(unjoined, 'process', 'processes')} of yours "
                          f"had ended but {_were(unjoined)} never joined when {text} returned: your code did "
                          "not wait for them, so one slower to end would have been left running; join every "
                          "producer and consumer before returning.", flow.events(), title=title)
    if left:
        return failed("pipeline/left-running", f"{_plural(len(left), 'process', 'processes')} of yours "
                      f"{_were(len(left))} still running after {text} returned: give every consumer its None and "
                      "join every producer and consumer before returning.", flow.events(),
                      [(call.ended, time.perf_counter())], title=title)
    return None


@check(timeout=40, label="run_pipeline")
def check_run_pipeline(judge, run_pipeline, consumer=None, producer=None) -> Verdict:
    """Producers pause until the consumers wait; the last item comes late; every result comes back once."""
    sizes, n_consumers, maxsize, hold = [4, 3], 3, 8, 0.5
    flow, text, start = _start_pipeline(judge, run_pipeline, sizes, n_consumers, maxsize)
    last = flow.batches[0][-1]                     # the last item of the first (longest) batch comes late
    phase = {"now": 1}
    flow.hold_put = lambda n, pid: phase["now"] == 1 or (phase["now"] == 2 and n == last)
    call = start()

    # 1. no item moves until every producer and the consumers are seen asleep, and then a while longer
    flow.wait_until(lambda: call.finished.is_set() or flow.stopped_early() or (
        flow.watch.quiet() and len(flow.waiting_producers()) >= len(sizes) and
        len(flow.others_alive()) >= n_consumers), stall=PHASE)
    flow.wait_until(lambda: call.finished.is_set() or flow.stopped_early() or flow.watch.quiet(), stall=PHASE)
    held_since = time.perf_counter()
    flow.wait_until(lambda: call.finished.is_set() or flow.stopped_early() or
                    time.perf_counter() - held_since >= hold, stall=hold + 1)
    if call.finished.is_set() and call.status == "raised":
        call.wait(0)
        return failed("pipeline/raised", f"{text} raised {call.error()}.", flow.events())
    if flow.stopped_early() or (flow.waiting_puts and not flow.others_alive() and flow.ended_non_producers()):
        # a consumer that quit, even one that quit before any producer put (a slow start)
        return _early_stop(judge, flow, consumer, text, "while the producers were paused and the queue was empty")
    no_overlap = failed("pipeline/no-overlap", f"in {text}, no consumer process was running while the producers "
                        "were producing (they waited to put their first item): start the consumers together with "
                        "the producers, and join the producers only after that.", flow.events(),
                        title=f"{text}: producers without consumers")
    if flow.waiting_puts and not flow.others_alive():
        return no_overlap
    paused_with = set(flow.watch.alive)

    # 2. everything but the last item goes; the consumers must still be there when it comes
    with flow.cv:
        phase["now"] = 2
        flow.cv.notify_all()

    def only_the_last_left() -> bool:
        others = [pid for pid in flow.producers() if pid != flow.put_by.get(last)]
        return (last in flow.waiting_puts and flow.taken() >= set(range(flow.total)) - {last} and
                all(pid in flow.watch.ended for pid in others) and flow.watch.quiet())

    flow.wait_until(lambda: call.finished.is_set() or flow.stopped_early() or only_the_last_left(), stall=PHASE)
    if flow.stopped_early():
        return _early_stop(judge, flow, consumer, text, "while a producer still had its last item to put")

    # 3. the last item goes; one None per consumer must stop them all; its transform ends only once the caller
    #    waits in the kernel, so results read with get_nowait() (at once or after a pause) miss it every run
    final = {"n": None}

    def hold_final(n, pid) -> bool:
        if final["n"] is None and flow.taken() >= set(range(flow.total)):
            final["n"] = n
        return n == final["n"]

    with flow.cv:
        phase["now"] = 3
        flow.hold_take = hold_final
        flow.cv.notify_all()
    flow.wait_until(lambda: call.finished.is_set() or (
        final["n"] is not None and flow.watch.quiet(2 * SETTLE) and flow.watch.caller_waits()), stall=PHASE)
    flow.release()
    verdict = _finish_pipeline(judge, flow, call, text, n_consumers)
    if verdict:
        return verdict
    if flow.put_by and not flow.consumers() & paused_with:
        return no_overlap                          # the process alive then was not a consumer (a Manager, say)
    return passed(f"{len(sizes)} producers and {n_consumers} consumers ran at once; the consumers waited out a pause "
                  f"and a late last item, took item 0, and all {flow.total} results came back once")


@check(timeout=40, label="run_pipeline")
def check_run_pipeline_busy_consumers(judge, run_pipeline, consumer=None, producer=None) -> Verdict:
    """Every transform waits until all four consumers are inside: exactly four, a bounded queue, large results."""
    sizes, n_consumers, maxsize, big_items = [3, 15], 4, 3, 4
    flow, text, start = _start_pipeline(judge, run_pipeline, sizes, n_consumers, maxsize, big_items)
    held = {"on": True}
    flow.hold_take = lambda n, pid: held["on"]
    call = start()
    flow.wait_until(lambda: call.finished.is_set() or len(flow.in_transform) > n_consumers or (
        flow.watch.quiet() and len(flow.in_transform) >= n_consumers) or (
        flow.watch.quiet(0.6) and flow.available() >= 1), stall=PHASE)
    if len(flow.in_transform) < n_consumers:
        _confirm_too_few(flow, call, lambda: len(flow.in_transform) >= n_consumers)
    inside, in_buffer = len(flow.in_transform), flow.available()
    title = f"{text}: every transform held until {n_consumers} consumers are inside"
    if inside > n_consumers:
        return failed("pipeline/consumer-count", f"{inside} processes were inside transform at the same time in "
                      f"{text}: start exactly n_consumers={n_consumers} consumer processes.", flow.events(),
                      title=title)
    allowed = maxsize + len(sizes) + n_consumers
    if in_buffer > allowed:
        return failed("pipeline/unbounded-queue", f"while the consumers were busy, {in_buffer} items were put and "
                      f"not taken although maxsize was {maxsize}: create the queue with multiprocessing.Queue(maxsize) "
                      "so that fast producers block (back-pressure) instead of piling items up.", flow.events(),
                      title=title)
    if not call.finished.is_set() and inside < n_consumers and in_buffer:
        return failed("pipeline/consumer-count", f"only {_plural(inside, 'consumer')} took an item in {text} while "
                      f"{_plural(in_buffer, 'item')} {_were(in_buffer)} waiting in the queue: start n_consumers="
                      f"{n_consumers} consumer processes (there may be more consumers than batches).",
                      flow.events(), title=title)
    with flow.cv:
        held["on"] = False
        flow.cv.notify_all()
    verdict = _finish_pipeline(judge, flow, call, text, n_consumers, big=True)
    if verdict:
        return verdict
    return passed(f"{n_consumers} consumers (for {len(sizes)} batches) were busy at once while the producers blocked "
                  f"with {in_buffer} items waiting (maxsize={maxsize}); all {flow.total} results, "
                  f"{big_items} of them {BIG // 1024} KB, came back once")


@check(timeout=40, label="run_pipeline")
def check_run_pipeline_late_producer(judge, run_pipeline, consumer=None, producer=None) -> Verdict:
    """Two runs: the last producer's last item waits for the first to end; then sentinels meet a full queue."""
    n_consumers, maxsize = 2, 3
    sizes = [2, 3]                                 # 5 items: one in each consumer's hands, 3 fill the queue
    flow, text, start = _start_pipeline(judge, run_pipeline, sizes, n_consumers, maxsize)
    held_last = flow.total - 1                 # the last producer's last item (run_pipeline's holds the first's)
    flow.hold_put = lambda n, pid: n == held_last
    call = start()

    def others_done() -> bool:
        others = flow.producers() - {flow.put_by.get(held_last)}
        return (held_last in flow.waiting_puts and bool(others) and
                all(pid in flow.watch.ended for pid in others) and
                flow.taken() >= set(range(flow.total)) - {held_last} and flow.watch.quiet(2 * SETTLE))

    flow.wait_until(lambda: call.finished.is_set() or flow.stopped_early() or others_done(), stall=PHASE)
    if flow.stopped_early():
        return _early_stop(judge, flow, consumer, text, "while the last producer still had its last item to put")
    flow.release()
    verdict = _finish_pipeline(judge, flow, call, text, n_consumers)
    if verdict:
        return verdict

    # a second run: every transform held, so the producers fill the queue and end before the sentinels go
    flow, text, start = _start_pipeline(judge, run_pipeline, sizes, n_consumers, maxsize)
    state = {"phase": 1, "final": None}

    def hold_take(n, pid) -> bool:
        if state["final"] is None and flow.taken() >= set(range(flow.total)):
            state["final"] = n                     # the transform that completes the set ends late
        return state["phase"] == 1 or n == state["final"]

    flow.hold_take = hold_take
    call = start()
    title = f"{text}: every transform held until the producers had ended, then the last one late"
    flow.wait_until(lambda: call.finished.is_set() or (
        len(flow.put_at) == flow.total and all(pid in flow.watch.ended for pid in flow.producers()) and
        flow.watch.quiet(2 * SETTLE)), stall=PHASE)
    if call.finished.is_set() and call.status == "raised":
        call.wait(0)
        flow.release()
        return _raised(flow, call, text, title)
    with flow.cv:
        state["phase"] = 2
        flow.cv.notify_all()
    flow.wait_until(lambda: call.finished.is_set() or (
        state["final"] is not None and flow.watch.quiet(2 * SETTLE) and flow.watch.caller_waits()), stall=PHASE)
    flow.release()
    verdict = _finish_pipeline(judge, flow, call, text, n_consumers)
    if verdict:
        return verdict
    return passed("the sentinels waited until the last producer's late last item was put, then met a full queue, "
                  f"and the results waited for a late transform; all {flow.total} results came back once, twice")


def _confirm_too_few(flow: _Flow, call, enough) -> None:
    """Before calling too few consumers (or processes) a mistake, a longer quiet: one may still be starting.

    On a loaded machine a process started by forkserver or spawn can sleep in the kernel
    for a while as it starts (reading its preparation data), so a short quiet is no proof.
    """
    flow.wait_until(lambda: call.finished.is_set() or enough() or flow.watch.quiet(CONFIRM_QUIET),
                    stall=PHASE + CONFIRM_QUIET)


# --------------------------------------------------------------------------------------
# run_joinable

def _until_consumers_wait(flow: _Flow, call, n_consumers: int) -> None:
    """Hold the caller's first item until its consumers block on the queue with no timeout.

    Or until one has ended, or they have waited ``LONG_TIMEOUT``: a consumer that gives up on
    an empty queue (``get(timeout=...)``, then return) gives up on every run, not only when
    the caller happens to be slower than its timeout (``joinable/consumer-gives-up``). A
    plain ``q.get()`` is seen at once (``/proc/<pid>/task/<pid>/syscall``), so a correct
    answer costs a moment; where the OS does not tell, the hold ends when they are quiet.
    """
    def over() -> bool:
        return call.finished.is_set() or bool(flow.watch.ended_consumers())

    flow.wait_until(lambda: over() or (len(flow.watch.alive) >= n_consumers and flow.watch.quiet()), stall=PHASE)
    if not _STATUS_TELLS or not os.path.isdir("/proc/self/task"):
        return
    since = time.perf_counter()

    def settled() -> bool:
        """Every consumer left waits for ever (or none is left): one still in a timed get may yet give up."""
        if not flow.watch.alive:
            return bool(flow.watch.ended_consumers())
        # a process still starting (spawn, forkserver) reads its arguments from the caller: that read is no get
        return all(pid in flow.said_born and
                   _waits_for_ever(f"/proc/{info['host_pid']}/task/{info['host_pid']}") is True
                   for pid, info in flow.watch.alive.items())

    flow.wait_until(lambda: call.finished.is_set() or settled() or time.perf_counter() - since >= LONG_TIMEOUT,
                    stall=LONG_TIMEOUT + 1)


def _judge_joinable(judge, run_joinable, count: int, n_consumers: int, gather: bool = False) -> Verdict | None:
    """The transform that completes the set of items is held; with ``gather``, every transform until all meet."""
    flow = _Flow(judge, [count], name="run_joinable")
    flow.caller_puts = True
    items = judge.make(f"{MODULE}:make_items", flow.recorder, count)
    transform = judge.make(f"{MODULE}:Transform", flow.recorder, 0, True)
    text = f"run_joinable(items, {n_consumers}, transform)"
    title = f"{text}: what your processes did"
    meet = min(count, n_consumers)
    state = {"final": None, "hold": True, "gathered": not gather}

    def hold_take(n, pid) -> bool:
        if state["final"] is None and flow.taken() >= set(range(count)) and \
                sum(1 for _t, m, _p in flow.takes if m == n) == 1:
            state["final"] = n                    # this transform completes the set: it ends late
        return not state["gathered"] or (state["hold"] and state["final"] == n)

    flow.hold_take = hold_take
    # the last result stays in flight after its task_done(): only a caller that waits for it gets it
    flow.hold_send = lambda n, pid: n == state["final"] and not flow.sends_released
    state["first_put"] = True
    flow.hold_caller_put = lambda n: state["first_put"]
    call = flow.call = judge.call(run_joinable, items, n_consumers, transform, name="run_joinable")
    _until_consumers_wait(flow, call, n_consumers)
    with flow.cv:
        state["first_put"] = False
        flow.cv.notify_all()
    if gather:
        flow.wait_until(lambda: call.finished.is_set() or len(flow.in_transform) > n_consumers or (
            flow.watch.quiet() and len(flow.in_transform) >= meet) or (
            flow.watch.quiet(0.6) and flow.available() >= 1), stall=PHASE)
        if len(flow.in_transform) < meet:
            _confirm_too_few(flow, call, lambda: len(flow.in_transform) >= meet)
        if len(flow.in_transform) >= meet and len(flow.watch.alive) < n_consumers:
            _confirm_too_few(flow, call, lambda: len(flow.watch.alive) >= n_consumers)
        inside, alive = len(flow.in_transform), len(flow.watch.alive)
        # every transform is held here, so a consumer that has ended never finished one: it gave up on an empty
        # queue (on a loaded machine even before the caller's first put, so that too few took an item)
        quit_early = flow.watch.ended_consumers()
        gave_up = not call.finished.is_set() and bool(quit_early)     # (the last may still be starting, on spawn)
        if not call.finished.is_set() and inside < meet and not gave_up:
            return failed("joinable/consumer-count", f"only {_plural(inside, 'consumer')} took an item in {text} while "
                          f"{_plural(count - inside, 'item')} waited: start n_consumers={n_consumers} consumer "
                          "processes.", flow.events(), title=title)
        if gave_up and (alive < n_consumers or inside < meet):
            return _consumers_gave_up(flow, text, count, quit_early)
        if not call.finished.is_set() and alive < n_consumers:
            return failed("joinable/consumer-count", f"only {_plural(alive, 'process', 'processes')} of yours ran in "
                          f"{text}: start n_consumers={n_consumers} consumers, even when there are fewer items.",
                          flow.events(), title=title)
        with flow.cv:
            state["gathered"] = True
            flow.cv.notify_all()
    flow.wait_until(lambda: call.finished.is_set() or (state["final"] is not None and flow.watch.quiet()),
                    stall=PHASE)
    if state["final"] is not None and not call.finished.is_set():
        since = time.perf_counter()
        flow.wait_until(lambda: call.finished.is_set() or time.perf_counter() - since >= 0.3, stall=1.0)
    flow.release()
    with flow.cv:
        state["hold"] = False
    flow.wait_until(lambda: call.finished.is_set(), stall=STALL, cap=30.0)
    with flow.cv:
        all_done = flow.transformed[count - 1] if len(flow.transformed) >= count else float("inf")
    if call.status == "returned" and call.ended < all_done:
        late = "" if state["final"] is None else f" (item {state['final']}, which the checker made slow)"
        return failed("joinable/returned-early", f"{text} returned before every item was transformed{late}: wait "
                      "with q.join(), and call q.task_done() only after the result is on the results queue.",
                      flow.events(), [(call.ended, min(all_done, time.perf_counter()))], title=title)
    if not call.finished.is_set():
        lines = _stuck_lines(judge)
        waiting_on_queue = any(line.startswith("the call") and "synchronize.py" in line for line in lines)
        if len(flow.taken()) == count and waiting_on_queue:                 # q.join(), not Process.join()
            return failed("joinable/no-task-done", f"{text} never returned although every item was transformed"
                          f"{_stuck(judge, lines)}: q.join() returns only once q.task_done() has been called for "
                          "every item (sentinels included), so call it after each item, in a finally: block.",
                          flow.events(), title=title)
        if len(flow.taken()) == count:
            return failed("joinable/joins-running-consumers", f"{text} never returned although every item was "
                          f"transformed{_stuck(judge, lines)}: a consumer that loops for ever never ends, so stop it "
                          "(a None it understands, or terminate()) before you join it.", flow.events(), title=title)
        quit_early = flow.watch.ended_consumers()
        if quit_early and not flow.taken():          # consumers gone before any item came (the last may be starting)
            return _consumers_gave_up(flow, text, count, quit_early)
        return failed("joinable/hangs", f"{text} did not finish, and {len(flow.taken())} of {count} items were "
                      f"transformed{_stuck(judge, lines)}: start the daemon consumers, put every item, wait with "
                      "q.join().", flow.events(), title=title)
    call.wait(0)
    if call.status != "returned" and call.error_type.endswith("Empty"):
        return failed("joinable/gives-up-waiting", f"{text} raised {call.error()} while the last result was on its "
                      "way: q.join() returns once every item is marked done, but a result put just before may still "
                      "be in flight (a queue sends from a background thread), so read the results with "
                      "results.get(), which waits, not get_nowait().", flow.events(), title=title)
    if call.status != "returned":
        return failed("joinable/raised", f"{text} raised {call.error()}.", flow.events(), title=title)
    problem = flow.results_problem(call.value)
    if problem:
        slug, what = problem
        return failed(f"joinable/{slug}", f"{text} {what}: collect exactly one result per item after q.join().",
                      flow.events(), title=title)
    skipped = sorted(set(range(count)) - flow.taken())
    if skipped:
        return failed("joinable/transform-skipped", f"in {text}, transform was never called for item {skipped[0]}: "
                      "the consumers put transform(item) on results for every item.", flow.events(), title=title)
    consumers = flow.consumers()
    if flow.stage in consumers:
        return failed("joinable/no-consumer-process", f"in {text} the caller called transform itself: the consumers "
                      "are daemon processes of their own.", flow.events(), title=title)
    if len(consumers) > n_consumers:
        return failed("joinable/consumer-count", f"in {text}, {len(consumers)} processes called transform, more "
                      f"than n_consumers={n_consumers}.", flow.events(), title=title)
    left = _left_running(flow)
    if left:
        return failed("joinable/left-running", f"after {text} returned, {_plural(len(left), 'process', 'processes')} "
                      f"of yours {_were(len(left))} still running: a notebook kernel never exits, so even daemon "
                      "consumers never die on their own; once q.join() has returned, stop them (a None each, or "
                      "terminate()) and join them.", flow.events(), [(call.ended, time.perf_counter())],
                      title=title)
    unjoined = _never_joined(flow)
    if unjoined:
        return failed("joinable/not-joined", f"after {text} returned, {_plural(unjoined, 'consumer')} had been "
                      f"stopped but {_were(unjoined)} never joined: terminate() only asks a process to end, and "
                      "it may still be running when you return; join every consumer after stopping it.",
                      flow.events(), title=title)
    flags = judge.daemon_flags()
    not_daemons = sorted(pid for pid in consumers if flags.get(pid) is False)
    if not_daemons:
        return failed("joinable/not-daemon", f"in {text}, {_plural(len(not_daemons), 'consumer')} "
                      f"{_were(len(not_daemons))} not daemon processes: a consumer loops for ever, so make it a "
                      "daemon (daemon=True before start()), which cannot outlive the program, and still stop it "
                      "after q.join().", flow.events(), title=title)
    return None


def _consumers_gave_up(flow: _Flow, text: str, count: int, quit_early: list[int]) -> Verdict:
    return failed("joinable/consumer-gives-up", f"in {text} {_plural(len(quit_early), 'consumer')} ended "
                  f"while {_plural(count, 'item')} {_were(count)} still being worked on and the call "
                  "went on: a consumer that finds the queue empty must keep waiting with a plain q.get() (no "
                  "timeout; more items may still come) until you stop it after q.join().", flow.events(),
                  [(t - 0.02, t + 0.02) for pid, t in flow.watch.ended.items() if pid in quit_early],
                  title=f"{text}: a consumer gave up waiting")


@check(timeout=30, label="run_joinable")
def check_run_joinable(judge, run_joinable) -> Verdict:
    """Six items, two consumers, the last transform ends late: q.join() must wait; nothing left running."""
    verdict = _judge_joinable(judge, run_joinable, 6, 2)
    return verdict or passed("q.join() waited for the last (late) item; all 6 results came back once and no "
                             "consumer was left running")


@check(timeout=30, label="run_joinable")
def check_run_joinable_idle_consumers(judge, run_joinable) -> Verdict:
    """Four consumers for three items: the idle one must be stopped too."""
    verdict = _judge_joinable(judge, run_joinable, 3, 4, gather=True)
    return verdict or passed("4 consumers for 3 items were all started, 3 worked at once; all 3 results came back "
                             "once and no consumer, busy or idle, was left running")
