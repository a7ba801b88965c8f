"""Checks for assignment 01_processes: run_all, SquareWorker.

The student's code runs in the stage (``mpcourse.judge``): ``run_all`` in a thread of the
stage's main process, which is then "the caller"; ``SquareWorker`` through a course
driver there, which constructs, starts and joins the workers the way a parent would.
The targets and numbers handed to the student's code are course objects of this
module; they report to the judge through a ``Recorder`` (the judge times each report
and knows which process sent it, from the kernel) and wait for the judge's answer
where the judge must control timing. The judge also asks the operating system which
processes of the stage exist. Only exit codes and a driver's report come back as
plain data.

Test plan (COURSE_SPEC.md; every check fails every implementation that violates its
dimension, on every run and start method):

``run_all(target, arg_tuples) -> list``
  * process structure: a target that reports from the caller's own pid ran in the caller
    (``run()`` instead of ``start()``) -> ``run_all/run-not-start``; each tuple's target
    must begin exactly once, in its own process -> ``run_all/process-count``;
  * concurrency: every target waits at a rendezvous the judge answers only when all of
    them wait at once (and never, once no other process of the stage is on its way and the
    caller sits blocked, all its threads asleep): start-join-start-join can never get there
    -> ``run_all/not-concurrent``
    (``check_run_all_runs_children_at_once``, the visible test; 5 children in the hidden one);
  * timing: the judge lets the targets end only after they all met, the first tuple's
    target after all the others have ended (in the hidden 5-child check, 1 s after them on the
    caller's own clock, ``_CallerClock``, so that a ``join(timeout)`` shorter than that returns
    while it still runs, whatever order the joins come in, and however starved of CPU the
    caller is; and never while the caller sleeps on a timer, ``_CallerClock.dozing``, so that
    one long ``time.sleep`` in place of a join cannot outlast the hold); a ``run_all`` that
    returns before the judge let every target end returned early, certainly
    -> ``run_all/returned-early`` (also: ``None`` among the codes);
  * values: exit codes 3, 0, 7 in the order of ``arg_tuples`` although they end in the
    reverse order; ``sys.exit(2)``, ``sys.exit(1)``, a normal return and death by SIGTERM
    (``-15``, POSIX only); no tuples at all gives ``[]`` -> ``run_all/wrong-codes``;
  * leftovers: after the return the OS must show no process of the stage but the
    stage and multiprocessing's helpers (a ``subprocess`` child in a new session
    counts) -> ``run_all/left-running``;
  * exceptions and hangs: ``run_all/raised``, ``run_all/hangs`` (where it is stuck),
    ``run_all/not-a-list``.
``SquareWorker(numbers, out_queue)``
  * process structure: it must be a ``multiprocessing.Process`` whose ``__init__`` calls
    ``super().__init__()`` (``start()`` fails otherwise) -> ``square_worker/not-a-process``,
    ``square_worker/no-super-init``;
  * where the work happens: the numbers are course ints that report every
    multiplication to the judge, and ``out_queue`` hands every ``put`` to the judge,
    both attributed to the sending process by the kernel; a square computed or a result
    put by the parent (in ``__init__``), or the squares already stored on the worker
    before ``start()`` -> ``square_worker/work-in-init``; a result whose pid is not the
    pid of the process that put it -> ``square_worker/wrong-pid``;
  * values and counts: one tuple per worker, ``[n * n for n in numbers]`` with
    negative numbers, 0 and an empty list, three workers at once
    -> ``square_worker/wrong-result``, ``square_worker/no-result``, ``square_worker/many-results``;
  * exceptions: ``square_worker/raised``, ``square_worker/exit-code``.
Leftovers of every check: the stage and everything in it are killed after each check.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time

from ..timeline import STATE_COLOURS, STATE_LABELS, Event, spans_of
from . import Verdict, _CallerClock, check, failed, passed

CALLER = "the caller"
PARENT = "the parent"
STATE_COLOURS.setdefault("returned", "#cfd8dc")
STATE_LABELS.setdefault("returned", "returned (the caller)")
STATE_COLOURS.setdefault("dying after SIGTERM", "#6d4c41")

# Waits are generous where only a wrong answer pays for them: on a loaded machine a correct
# answer's children may take seconds to start, and must never be judged by that.
MEET_PATIENCE = 2.0      # s a target waits alone once no process is on its way and the caller is blocked
MEET_CAP = 30.0          # s a target waits for the others in any case
RELEASE_GAP = 5.0        # s the judge waits for released targets to exit before releasing the next wave
RUN_ALL_LIMIT = 45.0     # s run_all may take
FIRST_HOLD = 1.0         # s the first tuple's target outlives the others in the hidden check (a short join timeout)
WORKERS_LIMIT = 30.0     # s SquareWorkers get to put their results and end


# ----------------------------------------------------------------------------------
# course code that runs in the stage, next to the student's code (children import it)

def sleep_in_steps(seconds: float, step: float = 0.02) -> None:
    """Sleep in short steps, so that a signal handler runs promptly."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(step, left))


def begin(rec, label: str, index: int = -1) -> bool:
    """Tell the judge this target began; False when it runs in the caller itself (then return at once)."""
    return bool(rec.ask("begin", label, bool(multiprocessing.current_process().daemon), index))


def exit_with(code: int) -> None:
    """End this process with exit code ``code`` (0: return; negative: die of that signal, POSIX only)."""
    if code < 0 and os.name == "posix":
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        sleep_in_steps(5)
    if code:
        sys.exit(code)


def rendezvous_then_exit(rec, index: int, code: int) -> None:
    """A run_all target: meet the other children at the judge's rendezvous, end with ``code`` when told."""
    if not begin(rec, f"exit code {code}", index):
        return
    rec.ask("meet")
    rec.ask("finish", code)
    exit_with(code)


def ask_aside(rec, question: str, *args):
    """``rec.ask`` on a connection of its own thread: safe inside a signal handler."""
    box = []
    thread = threading.Thread(target=lambda: box.append(rec.ask(question, *args)), daemon=True)
    thread.start()
    thread.join(30)
    return box[0] if box else None


class TracedInt(int):
    """An int that tells the judge in which process it is multiplied (the judge sees the sender)."""

    def __new__(cls, value: int, rec):
        obj = super().__new__(cls, value)
        obj.rec = rec
        return obj

    def __reduce__(self):
        return TracedInt, (int(self), self.rec)

    def _squared(self, result):
        self.rec.mark("n * n", str(int(self)))
        return result

    def __mul__(self, other):
        if not isinstance(other, int):
            return NotImplemented
        return self._squared(int(self) * int(other))

    __rmul__ = __mul__

    def __pow__(self, other, mod=None):
        return self._squared(pow(int(self), other, mod))

    def __repr__(self) -> str:
        return repr(int(self))


class OutQueue:
    """The ``out_queue`` a SquareWorker gets: every ``put`` goes to the judge, which sees who put it."""

    def __init__(self, rec):
        self._rec = rec

    def put(self, item, block: bool = True, timeout: float | None = None) -> None:
        self._rec.ask("put", item)

    def put_nowait(self, item) -> None:
        self.put(item)

    def close(self) -> None:
        pass

    def join_thread(self) -> None:
        pass

    def cancel_join_thread(self) -> None:
        pass


def drive_square_workers(SquareWorker, inputs: list, rec, patience: float) -> dict:  # noqa: N803 (the student's class)
    """As a parent would: construct every worker, start them all, join them; report what happened as plain data."""
    from multiprocessing.process import BaseProcess

    out_queue = OutQueue(rec)
    report: dict = {"step": "", "error": "", "pids": [], "exitcodes": [], "stored_squares": []}
    workers = []
    for numbers in inputs:
        try:
            workers.append(SquareWorker([TracedInt(n, rec) for n in numbers], out_queue))
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 (reported to the judge as plain data)
            report.update(step="construct", error=_exception_text(exc))
            return report
    if not all(isinstance(w, BaseProcess) for w in workers):
        report.update(step="type", error=type(workers[0]).__name__)
        return report
    for w, numbers in zip(workers, inputs):
        squares = [n * n for n in numbers]
        stored = [name for name, value in _attributes(w) if squares and squares != list(numbers)
                  and isinstance(value, (list, tuple)) and _plain(value) == squares]
        report["stored_squares"].append(stored[:1])
    rec.ask("starting")
    for w in workers:
        try:
            w.start()
        except Exception as exc:  # noqa: BLE001
            set_up = all(hasattr(w, name) for name in ("_config", "_popen", "_identity"))
            report.update(step="start" if set_up else "start-not-set-up", error=_exception_text(exc))
            return report
    report["pids"] = [w.pid for w in workers]
    deadline = time.monotonic() + patience
    for w in workers:
        w.join(max(deadline - time.monotonic(), 0.01))
    report["exitcodes"] = [w.exitcode for w in workers]
    report["step"] = "joined"
    return report


def _attributes(obj) -> list:
    try:
        return list(vars(obj).items())
    except TypeError:
        return []


def _plain(value) -> list:
    try:
        return [int(v) for v in value]
    except (TypeError, ValueError):
        return []


def _exception_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


# ----------------------------------------------------------------------------------
# the judge's side: what the targets report, and when they may go on

class Targets:
    """The judge's record of the course targets handed to the student's code, and its answers to them.

    A target says where it began (the judge sees the pid); at ``meet`` it waits until
    ``expected`` targets wait at once, or until the judge decides nobody else is coming;
    at ``finish`` it waits until the judge lets it end (all but the first tuple's target,
    then that one); after SIGTERM a slow target waits at ``sigterm`` while the judge holds
    it. The judge's main thread drives the decisions in ``watch``.
    """

    def __init__(self, judge, expected: int = 0):
        self.judge = judge
        self.cv = judge.cv
        self.since = time.perf_counter()           # a check may try several times: its pictures show this try
        self.recorder = judge.recorder("targets")
        self.expected = expected
        self.stage_pid = judge.stage_peer.pid
        self.callers = {self.stage_pid}
        self.begun: list[dict] = []               # {"pid", "label", "daemon", "index", "t", "peer"}
        self.in_caller: list[str] = []
        self.waiting: set[int] = set()
        self.last_arrival = 0.0
        self.met = False
        self.alone = False
        self.finishing: dict[int, tuple[int, object, int]] = {}      # pid -> (index, peer, code)
        self.released: dict[int, float] = {}
        self.last_release: tuple[object, float] | None = None
        self.hold_first = 0.0                      # s the first tuple's target waits once the others have ended
        self.first_clock: _CallerClock | None = None    # the caller's time since the others ended
        self.dying: dict[int, float] = {}          # pid -> when SIGTERM arrived (held by the judge)
        self.hold_dying = 0.0
        self.call = None
        self.opened = False                        # after the student's call: targets end when they like
        self.outlived: set[int] = set()            # dying targets still held when the student's call returned
        self.puts: list[tuple[float, int, object]] = []
        self.job_asked = False                     # a caller process's start_background returned
        self.stops: list[tuple[str, float]] = []   # (terminate/kill, s after start() returned): the stage timed it
        answers = {"begin": self._begin, "meet": self._meet, "finish": self._finish, "sigterm": self._sigterm,
                   "put": self._put, "caller": self._caller, "starting": self._starting,
                   "job running?": self._job_running, "stopping": self._stopping}
        for question, answer in answers.items():
            self.recorder.on(question, answer)

    # -- answers (each runs in the thread of the asking connection) ------------------------
    def _begin(self, peer, label="", daemon=False, index=-1):
        label = str(label)[:60]
        with self.cv:
            if peer.pid in self.callers:
                self.in_caller.append(label)
                self.judge.record("mark", "target ran here", label, name=CALLER, pid=peer.pid)
                return False
            self.begun.append({"pid": peer.pid, "label": label, "daemon": daemon is True, "index": index,
                               "t": time.perf_counter(), "peer": peer})
            self.judge.record("state", "running", label + (" (daemon)" if daemon is True else ""), peer=peer)
            self.cv.notify_all()
        return True

    def _meet(self, peer):
        with self.cv:
            self.waiting.add(peer.pid)
            self.last_arrival = time.monotonic()
            self.judge.record("state", "blocked", "waiting for the other children", peer=peer)
            if len(self.waiting) >= self.expected:
                self.met = True
            self.cv.notify_all()
            deadline = time.monotonic() + MEET_CAP
            while not (self.met or self.alone or self.judge.closed) and time.monotonic() < deadline:
                self.cv.wait(0.05)
            if not self.met:
                self.alone = True
            self.waiting.discard(peer.pid)
            self.judge.record("state", "running", "met the others" if self.met else "gave up: it ran alone",
                              peer=peer)
            return self.met

    def _finish(self, peer, code=0):
        with self.cv:
            index = next((b["index"] for b in self.begun if b["pid"] == peer.pid), -1)
            self.finishing[peer.pid] = (index, peer, code)
            self.cv.notify_all()
            deadline = time.monotonic() + 60
            while not (peer.pid in self.released or self.opened or self.judge.closed) and time.monotonic() < deadline:
                self.cv.wait(0.05)
            self.judge.record("state", "exited", f"exit code {code}", peer=peer)

    def _sigterm(self, peer, *_args):
        """A slow target got SIGTERM: held until the student's call returns, or for ``hold_dying`` s of its time."""
        with self.cv:
            self.dying[peer.pid] = time.perf_counter()
            self.judge.record("mark", "SIGTERM", peer=peer)
            self.judge.record("state", "dying after SIGTERM", peer=peer)
            clock = _CallerClock(self.call.task() if self.call is not None else None)
            while not self.judge.closed and not peer.closed.is_set():
                if self.call is not None and self.call.finished.is_set():
                    # killed just before the return? its connection's end may still be on the way; held, it stays open
                    self.cv.wait_for(peer.closed.is_set, 1.0)
                    if not peer.closed.is_set():
                        self.outlived.add(peer.pid)
                    break
                if clock.read() >= self.hold_dying and not clock.dozing():
                    break
                self.cv.wait(0.02)
            self.judge.record("state", "exited", "SIGTERM" if not peer.closed.is_set() else "killed", peer=peer)

    def _put(self, peer, item=None):
        with self.cv:
            self.puts.append((time.perf_counter(), peer.pid, item))
            self.judge.record("mark", "put", _short(item), peer=peer)

    def _caller(self, peer):
        """A caller process of the check's own announces itself: targets that begin there ran in it."""
        with self.cv:
            self.callers.add(peer.pid)
            self.judge.record("state", "running", "calls start_background(job)", name=CALLER, pid=peer.pid)

    def _stopping(self, peer, what="", waited=0.0):
        if isinstance(waited, (int, float)) and not isinstance(waited, bool):
            with self.cv:
                self.stops.append((str(what)[:20], float(waited)))
            self.judge.record("mark", f"{what}()"[:20], f"{waited:.2f} s after start()", name=CALLER, pid=peer.pid)

    def _starting(self, peer):
        self.judge.record("state", "blocked", "starts and joins the workers", name=PARENT, pid=peer.pid)

    def _job_running(self, peer, pid=None):
        """Answered once the process ``pid`` has begun its target (or after half a minute)."""
        deadline = time.monotonic() + 30
        with self.cv:
            self.job_asked = True
            self.cv.notify_all()
            while not self.began_in(pid) and time.monotonic() < deadline and not self.judge.closed:
                self.cv.wait(0.05)
            return self.began_in(pid)

    # -- the judge's decisions ---------------------------------------------------------------
    def began_in(self, pid) -> bool:
        return any(b["pid"] == pid for b in self.begun)

    def watch(self, call, limit) -> None:
        """Wait for ``call``, deciding the rendezvous and who may end meanwhile.

        ``limit``: seconds, or a function giving the deadline (``time.perf_counter()``) as events arrive.
        """
        self.call = call
        end = time.perf_counter() + limit if not callable(limit) else None
        next_look = 0.0
        while not call.finished.is_set() and time.perf_counter() < (end or limit()) and not self.judge.lost.is_set():
            if time.monotonic() >= next_look:
                self._decide_alone()
                next_look = time.monotonic() + 0.25
            self._release_next()
            call.finished.wait(0.03)
        with self.cv:
            self.cv.notify_all()

    def _decide_alone(self) -> None:
        with self.cv:
            undecided = self.waiting and not self.met and not self.alone
            quiet = time.monotonic() - self.last_arrival > MEET_PATIENCE
        if not (undecided and quiet):
            return
        on_the_way = [p for p in self.others() if p["pid"] not in self.waiting]
        if not on_the_way and not runnable(self.judge.stage_peer.host_pid):
            with self.cv:
                self.alone = True
                self.cv.notify_all()

    def _release_next(self) -> None:
        """Let the targets end in two waves: every one but the first tuple's, then (once they are gone) the first."""
        with self.cv:
            if self.last_release is not None:
                peers, at = self.last_release
                gone = all(p.closed.is_set() for p in peers)
                if not gone and time.monotonic() - at < RELEASE_GAP:
                    return
            pending = {pid: v for pid, v in self.finishing.items() if pid not in self.released}
            everyone = len(self.finishing) >= self.expected
            if not pending or not (everyone and self.met or self.alone or self.call.finished.is_set()):
                return
            wave = list(pending)
            if everyone and len(pending) > 1:          # the first tuple's target waits for the next wave
                first = min(index for index, _peer, _code in pending.values())
                wave = [pid for pid in pending if pending[pid][0] != first] or wave
            elif ((self.last_release is not None or self.expected == 1) and self.met and self.hold_first
                  and not self.call.finished.is_set()):
                if self.first_clock is None:           # the first tuple's target outlives any short join(timeout)
                    self.first_clock = _CallerClock(self.call.task())
                if self.first_clock.read() < self.hold_first or self.first_clock.dozing():
                    return
            now = time.perf_counter()
            for pid in wave:
                self.released[pid] = now
            self.last_release = ([pending[pid][1] for pid in wave], time.monotonic())
            self.first_clock = None
            self.cv.notify_all()

    def release_all(self) -> None:
        """From now on every target may end at once (the student's call is over)."""
        with self.cv:
            self.opened = True
            self.alone = self.alone or not self.met
            self.cv.notify_all()

    def held(self) -> list[int]:
        """Pids of targets that began and that the judge has not let end yet."""
        with self.cv:
            return [b["pid"] for b in self.begun
                    if b["pid"] not in self.released and b["pid"] not in self.dying and not b["peer"].closed.is_set()]

    def others(self) -> list[dict]:
        """Processes of the stage now alive, but the stage itself and multiprocessing's helpers (the OS's view)."""
        return [p for p in self.judge.processes() if p["alive"] and not p["is_stage"] and not p["helper"]]

    def settle(self, seconds: float) -> list[dict]:
        """Wait up to ``seconds`` for the stage's other processes to end; those still alive."""
        deadline = time.monotonic() + seconds
        alive = self.others()
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = self.others()
        return alive

    def events(self) -> list[Event]:
        """The event log, with every row that is still running drawn up to now."""
        events = [e for e in self.judge.events() if e.t >= self.since]
        return extend_to_now(events, {p["pid"] for p in self.others()} | {self.stage_pid})


def runnable(host_pid: int | None) -> bool:
    """Is a thread of this process running or ready to run (Linux: /proc)? A starved caller is; one in join() is not.

    Elsewhere (or when the process is gone) False: the judge then goes by time alone.
    """
    import glob

    for path in glob.glob(f"/proc/{host_pid}/task/*/stat"):
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                if f.read().rpartition(")")[2].split()[0] in ("R", "D"):
                    return True
        except (OSError, IndexError):
            continue
    return False


def extend_to_now(events: list[Event], alive: set[int]) -> list[Event]:
    """A span lasts until the next event: repeat the last state of a process that still runs, at now."""
    now = time.perf_counter()
    last: dict[int, Event] = {}
    for e in events:
        if e.kind == "state":
            last[e.pid] = e
    extra = [Event(now, e.pid, e.name, "state", e.what, e.detail) for e in last.values()
             if e.pid in alive and e.what not in ("exited", "returned")]
    return events + extra


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def caller_span(judge, call, what: str, name: str = CALLER) -> None:
    """The caller's row: in the student's function from the call to its return (the judge's clock)."""
    pid = judge.stage_peer.pid
    judge.record("state", "running", what, name=name, pid=pid, at=call.started)
    if call.ended is not None:
        judge.record("state", "returned", name=name, pid=pid, at=call.ended)


def with_rows(events: list[Event]) -> list[Event]:
    """A process that only left marks (a worker's put) gets a row: running from its first event."""
    has_state = {e.pid for e in events if e.kind == "state"}
    first: dict[int, Event] = {}
    for e in events:
        if e.pid not in has_state:
            first.setdefault(e.pid, e)
    rows = [Event(e.t, e.pid, e.name, "state", "running", "") for e in first.values()]
    return sorted(events + rows, key=lambda e: e.t)


def where_stuck(judge) -> str:
    """'it is stuck at `p.join()` in `run_all` (line 7 of your code)', from the stage's own report."""
    lines = judge.stacks()
    own = [line.removeprefix("the call ") for line in lines if line.startswith("the call ")]
    if own:
        return "it " + own[0]
    return "; ".join(lines[:2]) if lines else "it did not say where it was"


def stage_lost(call) -> None:
    """The student's code ended the stage itself (os._exit, a kill): run_check says so."""
    if call.status == "lost":
        from ..judge import StageLost

        raise StageLost("the checking process ended")


RUN_NOT_START = ("{call} ran the target in the calling process (pid {pid}), so no child process ever existed: "
                 "p.run() only calls the target here; call p.start() to create the child, then p.join() it.")


# ----------------------------------------------------------------------------------
# run_all

def _judge_run_all(judge, run_all, codes: list[int], hold_first: float = 0.0) -> Verdict:
    """Run ``run_all(rendezvous_then_exit, [(rec, i, code), ...])`` and judge everything a run_all must do.

    ``hold_first``: s the first tuple's target still runs after all the others ended (beats a short join timeout).
    """
    n = len(codes)
    targets = Targets(judge, expected=n)
    targets.hold_first = hold_first
    shown = "[" + ", ".join(f"(rec, {i}, {c})" for i, c in enumerate(codes)) + "]"
    call_text = f"run_all(rendezvous_then_exit, {shown})"
    limit = RUN_ALL_LIMIT
    call = judge.call(run_all, _target("rendezvous_then_exit"), [(targets.recorder, i, c) for i, c in enumerate(codes)],
                      name="run_all")
    targets.watch(call, limit)
    call.wait(0)
    held = targets.held()
    alive = targets.others() if call.ok else []
    targets.release_all()
    caller_span(judge, call, "in run_all")
    if call.status == "hung":
        return failed("run_all/hangs", f"{call_text} had not returned after {limit:g} s: {where_stuck(judge)}; "
                      "the targets end on their own, so start them all and join each of them.", targets.events(),
                      title="run_all never returned")
    stage_lost(call)
    if targets.in_caller:
        return failed("run_all/run-not-start", RUN_NOT_START.format(call=call_text, pid=targets.stage_pid),
                      targets.events(), title="the targets ran in the caller's own process")
    if call.status != "returned":
        return failed("run_all/raised", f"{call_text} raised {call.error() or 'an error'}.")
    result = call.value
    if not isinstance(result, (list, tuple)):
        return failed("run_all/not-a-list", f"{call_text} returned {result!r}; return the list of the children's "
                      "exit codes (p.exitcode of each process), in the order of arg_tuples.")
    result = list(result)
    running = set(held) | {p["pid"] for p in alive if targets.began_in(p["pid"])}
    if None in result or running:
        running |= {p["pid"] for p in alive}
        still = f" while {len(running)} of its children were still running" if running else ""
        targets.settle(3)
        spans = [(call.ended, time.perf_counter())] if call.ended else []
        return failed("run_all/returned-early", f"{call_text} returned {result!r}{still}: call p.join() (with no "
                      "timeout) on every process before you read its exitcode (it stays None until the child has "
                      "ended and been joined).", targets.events(), spans,
                      title="run_all returned before its children ended")
    per_index = [sum(1 for b in targets.begun if b["index"] == i) for i in range(n)]
    if per_index != [1] * n:
        return failed("run_all/process-count", f"{call_text} started {len(targets.begun)} child process(es) for "
                      f"{n} argument tuple(s) (per tuple: {per_index}): start exactly one process per tuple.",
                      targets.events(), title="run_all: processes per tuple")
    if n > 1 and not targets.met:
        alone = [(s.start, s.end) for s in spans_of(judge.events()) if s.state == "blocked" and s.end - s.start > 0.2]
        return failed("run_all/not-concurrent", f"the {n} children of {call_text} never all ran at the same "
                      "time (each waited for the others in vain, then gave up): start() every process first, and "
                      "only then join() them all.", targets.events(), alone,
                      title="run_all: the children never all ran at once")
    if result != codes:
        return failed("run_all/wrong-codes", f"{call_text} returned {result!r}, expected {codes!r}: return each "
                      "child's p.exitcode, in the order of arg_tuples (not the order in which they ended; here "
                      "the first tuple's child ended last).")
    leftovers = targets.settle(0.5)
    if leftovers:
        names = ", ".join(f"{p['name']} (pid {p['pid']})" for p in leftovers[:3])
        return failed("run_all/left-running", f"after {call_text} returned, {len(leftovers)} process(es) it "
                      f"started were still running ({names}): start only the target processes, and join every "
                      "process you start (a subprocess too) before you return.", targets.events())
    return None


def _target(name: str):
    from ..judge import Course

    return Course(f"mpcourse.checks.processes:{name}")


def _signal_code() -> int:
    """Death by SIGTERM where there are signals (POSIX); elsewhere an ordinary exit code."""
    return -int(signal.SIGTERM) if os.name == "posix" else 4


@check(timeout=60, label="run_all")
def check_run_all_runs_children_at_once(judge, run_all) -> Verdict:
    """Three children must all run at once: each waits at the judge's rendezvous until all three wait there."""
    verdict = _judge_run_all(judge, run_all, [3, 0, 7])
    return verdict or passed("3 children ran at the same time (they all met), ended in reverse order, and their "
                             "exit codes came back in order: [3, 0, 7]")


@check(timeout=60, label="run_all")
def check_run_all_many_at_once(judge, run_all) -> Verdict:
    """Five children at once, ending with 0, 2, SIGTERM, 1 and 0 (the first 1 s after the others): codes in order."""
    codes = [0, 2, _signal_code(), 1, 0]
    verdict = _judge_run_all(judge, run_all, codes, hold_first=FIRST_HOLD)
    return verdict or passed(f"5 children ran at the same time and returned {codes}, in order")


@check(timeout=75, label="run_all")
def check_run_all_with_no_tuples(judge, run_all) -> Verdict:
    """No tuples at all: nothing to start, and the answer is an empty list (then one tuple, exit code 5)."""
    call = judge.call(run_all, _target("rendezvous_then_exit"), [], name="run_all").wait(8)
    if call.status == "hung":
        return failed("run_all/hangs", f"run_all(rendezvous_then_exit, []) had not returned after 8 s: "
                      f"{where_stuck(judge)}.")
    if call.status != "returned":
        return failed("run_all/raised", f"run_all(rendezvous_then_exit, []) raised {call.error() or 'an error'}; "
                      "with no tuples there is nothing to run: return [].")
    if call.value != [] and call.value != ():
        return failed("run_all/wrong-codes", f"run_all(rendezvous_then_exit, []) returned {call.value!r}, "
                      "expected [].")
    verdict = _judge_run_all(judge, run_all, [5], hold_first=FIRST_HOLD)   # alone, it too outlives a short join
    return verdict or passed("no tuples gave [], and one tuple gave [5]")


# ----------------------------------------------------------------------------------
# SquareWorker

def _judge_square_workers(judge, SquareWorker, inputs: list[list[int]]) -> Verdict:  # noqa: N803
    targets = Targets(judge)
    shown = [f"SquareWorker({numbers}, q)" for numbers in inputs]
    call = judge.call(_target("drive_square_workers"), SquareWorker, inputs, targets.recorder, WORKERS_LIMIT,
                      name="SquareWorker")
    call.wait(WORKERS_LIMIT + 15)
    caller_span(judge, call, "constructs the workers", PARENT)
    parent = targets.stage_pid
    events = with_rows(targets.events())
    if call.status == "hung":
        return failed("square_worker/hangs", f"constructing, starting and joining {', '.join(shown)} had not "
                      f"finished after {WORKERS_LIMIT + 15:g} s: {where_stuck(judge)}.", events)
    stage_lost(call)
    if call.status != "returned" or not isinstance(call.value, dict):
        return failed("square_worker/raised", f"{shown[0]} raised {call.error() or 'an error'}.")
    report = call.value
    step, error = report.get("step"), report.get("error")
    if step == "construct":
        return failed("square_worker/raised", f"{shown[0]} raised {error}.")
    if step == "type":
        return failed("square_worker/not-a-process", f"{shown[0]} made a {error}, not a multiprocessing.Process: "
                      "write `class SquareWorker(multiprocessing.Process)`.")
    early = [(pid, item) for _t, pid, item in targets.puts if pid == parent]
    if early:
        return failed("square_worker/work-in-init", f"{early[0][1]!r} arrived on out_queue from the parent (pid "
                      f"{parent}), before start() was called: the work was done in __init__; only store numbers "
                      "and out_queue there and do the work in run(), which runs in the child after start().",
                      events, title="the parent did the work")
    in_parent = [e for e in events if e.kind == "mark" and e.what == "n * n" and e.pid == parent]
    stored = next((names[0] for names in report.get("stored_squares", []) if names), None)
    if in_parent or stored:
        where = f"(it stored them in self.{stored})" if stored else f"(pid {parent}), before start()"
        return failed("square_worker/work-in-init", f"the squares of {shown[0]} were computed in the parent "
                      f"{where}: __init__ runs in the parent, so only store numbers and out_queue there and "
                      "compute the squares in run().", events, title="the parent did the work")
    if step == "start-not-set-up":
        return failed("square_worker/no-super-init", f"{shown[0]}.start() raised {error}: SquareWorker.__init__ "
                      "never calls super().__init__(), so the Process machinery is not set up; call "
                      "super().__init__() at the top of __init__.")
    if step == "start":
        return failed("square_worker/raised", f"{shown[0]}.start() raised {error}.")
    pids = report.get("pids") or []
    exitcodes = report.get("exitcodes") or []
    by_sender: dict[int, list] = {}
    for _t, pid, item in targets.puts:
        by_sender.setdefault(pid, []).append(item)
    for pid, items in by_sender.items():
        item = items[0]
        if not (isinstance(item, tuple) and len(item) == 2):
            return failed("square_worker/wrong-result", f"run() put {item!r} on out_queue; put the tuple "
                          "(os.getpid(), squares).")
        if item[0] != pid:
            whose = " (the parent's pid)" if item[0] == parent else ""
            return failed("square_worker/wrong-pid", f"the process with pid {pid} put {_short(item)} on out_queue: "
                          f"its pid is {item[0]!r}{whose}, not the pid of the process that did the work; call "
                          "os.getpid() in run(), which runs in the child.", events)
        if pid not in pids:
            return failed("square_worker/wrong-pid", f"out_queue received a result from pid {pid}, which is none "
                          f"of the workers' pids ({sorted(p for p in pids if p is not None)}): do the work in run() "
                          "itself, in the worker's own process.", events)
    for numbers, text, pid, code in zip(inputs, shown, pids, exitcodes + [None] * len(inputs)):
        want = [n * n for n in numbers]
        results = by_sender.get(pid, [])
        if not results:
            detail = f" (it ended with exit code {code})" if code not in (0, None) else ""
            return failed("square_worker/no-result", f"nothing arrived on out_queue from {text} after start()"
                          f"{detail}: run() must put (os.getpid(), [n * n for n in numbers]) on out_queue.", events)
        if len(results) > 1:
            return failed("square_worker/many-results", f"{text} put {len(results)} results on out_queue; put "
                          "exactly one tuple.", events)
        got = results[0][1]
        if not isinstance(got, (list, tuple)) or list(got) != want:
            return failed("square_worker/wrong-result", f"{text} put ({pid}, {got!r}) on out_queue, expected "
                          f"({pid}, {want}).")
        if code is None:
            return failed("square_worker/exit-code", f"{text} was still running {WORKERS_LIMIT:g} s after start(), "
                          "although it had put its result: end run() after the put.", events)
        if code != 0:
            return failed("square_worker/exit-code", f"{text} ended with exit code {code}, expected 0 (it must "
                          "end after putting its result).", events)
    return None


@check(timeout=75, label="SquareWorker")
def check_square_worker_squares(judge, SquareWorker) -> Verdict:  # noqa: N803
    """SquareWorker([1, 2, 3], q): nothing from the parent, then (the child's pid, [1, 4, 9]) from the child."""
    verdict = _judge_square_workers(judge, SquareWorker, [[1, 2, 3]])
    return verdict or passed("nothing came from the parent; the child squared [1, 2, 3] and put (its pid, "
                             "[1, 4, 9])")


@check(timeout=75, label="SquareWorker")
def check_square_worker_works_in_the_child(judge, SquareWorker) -> Verdict:  # noqa: N803
    """Three workers at once (negative numbers, 0, an empty list): each squares in its own child."""
    verdict = _judge_square_workers(judge, SquareWorker, [[4, -5, 6, 0], [], [7]])
    return verdict or passed("3 workers at once each squared their own numbers in their own child and put one "
                             "tuple with their own pid")
