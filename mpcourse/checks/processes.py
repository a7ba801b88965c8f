"""Checks for assignment 01_processes: run_all, SquareWorker.

Every target the checks hand to the student's code is a module-level function of this
module (importable under spawn and forkserver) that records on a ``Timeline`` where it
ran (its pid), when it started and when it ended. A target that finds itself running
in the checking process (the student called ``run()`` instead of ``start()``) records
that and returns at once, so that mistake never hangs or kills the check.

The student's function runs in a thread of the checking process, so a call that never
returns is reported with where it is stuck, in one sentence, well before the check's
own deadline.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

from ..timeline import STATE_COLOURS, STATE_LABELS, Event, Timeline, spans_of
from . import Verdict, check, passed
from . import failed as _failed

#: the pid of the process that runs the judge (set by each judge; children see another pid)
_judge_pid: int | None = None
CALLER = "the caller"
STARTED = "started:"         # detail of a target's first state: "started:daemon=False|<label>"

# states of these pictures that the course palette does not have
STATE_COLOURS.setdefault("returned", "#cfd8dc")
STATE_LABELS.setdefault("returned", "returned (the caller)")
STATE_COLOURS.setdefault("dying after SIGTERM", "#6d4c41")


def enter_judge() -> None:
    global _judge_pid
    _judge_pid = os.getpid()


def in_caller() -> bool:
    """True when a target runs in the checking process itself (``run()`` called instead of ``start()``)."""
    return os.getpid() == _judge_pid


# ----------------------------------------------------------------------------------
# targets (run in the student's child processes)

def sleep_in_steps(seconds: float, step: float = 0.02) -> None:
    """Sleep in short steps, so that a signal handler runs promptly."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(step, left))


def _started(tl: Timeline, detail: str = "") -> bool:
    """Record the start of a target; False (and a mark) when it runs in the checking process."""
    if in_caller():
        tl.mark("target ran here", detail)
        return False
    tl.state("running", f"{STARTED}daemon={multiprocessing.current_process().daemon}|{detail}")
    return True


def work_then_exit(tl: Timeline, seconds: float, code: int) -> None:
    """Work for ``seconds``, then end with exit code ``code`` (0: return normally; negative: die of that signal)."""
    if not _started(tl, f"exit code {code}"):
        return
    sleep_in_steps(seconds)
    tl.state("exited", f"exit code {code}")
    if code < 0 and os.name == "posix":
        os.kill(os.getpid(), -code)
        sleep_in_steps(5)
    if code:
        sys.exit(code)


def meet_the_others(tl: Timeline, barrier, patience: float) -> None:
    """Wait at a barrier for the other children: only children that run at the same time get through."""
    if not _started(tl):
        return
    tl.state("blocked", "waiting for the other children")
    try:
        barrier.wait(patience)
        tl.state("running", "met the others")
        tl.mark("met")
    except threading.BrokenBarrierError:
        tl.state("running", "gave up")
        tl.mark("alone", "no other child was running")
    tl.state("exited")


class TracedInt(int):
    """An int that records on a timeline in which process it is multiplied."""

    def __new__(cls, value: int, tl: Timeline):
        obj = super().__new__(cls, value)
        obj.tl = tl
        return obj

    def _record(self) -> None:
        self.tl.mark("n * n", f"{int(self)}")

    def __reduce__(self):
        return TracedInt, (int(self), self.tl)

    def __mul__(self, other):
        if not isinstance(other, int):
            return NotImplemented
        self._record()
        return int(self) * int(other)

    __rmul__ = __mul__

    def __pow__(self, other, mod=None):
        self._record()
        return pow(int(self), other, mod)

    def __repr__(self) -> str:
        return repr(int(self))


# ----------------------------------------------------------------------------------
# verdicts whose pictures run until now

def failed(message: str, timeline: Timeline | None = None, highlight=(), title: str = "") -> Verdict:
    """A failed verdict whose picture shows processes that are still running (or stuck) up to now.

    A span lasts until the next event, so a process stuck forever would otherwise end
    at its last recorded event; an extra event in the same state extends it invisibly.
    """
    verdict = _failed(message, timeline, highlight, title)
    if verdict.events:
        now = time.perf_counter()
        last: dict[int, Event] = {}
        for e in verdict.events:
            if e.kind == "state":
                last[e.pid] = e
        for e in last.values():
            if e.what not in ("exited", "returned") and (e.pid == os.getpid() or is_running(e.pid)):
                verdict.events.append(Event(now, e.pid, e.name, "state", e.what, e.detail))
    return verdict


def settle(seconds: float) -> None:
    """Give the children a moment to end on their own, so that the picture shows when they did."""
    deadline = time.monotonic() + seconds
    while running_children() and time.monotonic() < deadline:
        time.sleep(0.02)


# ----------------------------------------------------------------------------------
# calling the student's code from the judge

@dataclass
class Outcome:
    done: bool
    value: object = None
    error: BaseException | None = None
    started: float = 0.0
    ended: float = 0.0
    running_at_return: list[int] = field(default_factory=list)
    where: str = ""

    @property
    def elapsed(self) -> float:
        return self.ended - self.started


def call(func, args: tuple, patience: float, tl: Timeline | None = None, label: str = "") -> Outcome:
    """Call ``func(*args)`` in a daemon thread; give up after ``patience`` seconds and say where it is stuck.

    The caller's row on the timeline shows the call; right after it returns, the
    children still running are listed (psutil, so joining nobody and reaping nobody).
    """
    box: dict = {}

    def run():
        try:
            box["value"] = func(*args)
        except BaseException as exc:  # noqa: BLE001 (SystemExit from student code too)
            box["error"] = exc
        box["ended"] = time.perf_counter()
        if tl is not None:
            tl.mark("returned", name=CALLER)
            tl.state("returned", name=CALLER)
        box["running"] = running_children()

    running_children()                     # imports psutil now, not right after the call returns
    if tl is not None:
        tl.state("running", label, name=CALLER)
    started = time.perf_counter()
    thread = threading.Thread(target=run, name="student code", daemon=True)
    thread.start()
    thread.join(patience)
    if thread.is_alive():
        where = stuck_where(thread)
        return Outcome(False, started=started, ended=time.perf_counter(), where=where)
    if isinstance(box.get("error"), NotImplementedError):
        raise NotImplementedError()
    return Outcome(True, box.get("value"), box.get("error"), started, box["ended"], box["running"])


def stuck_where(thread: threading.Thread) -> str:
    """'is stuck at `p.join()` in `run_all` (line 7 of your code)' for a thread of this process."""
    from ..runner import Frame, describe_stack

    frame = sys._current_frames().get(thread.ident)
    if frame is None:
        return "did not say where it was"
    frames = [Frame(f.filename, f.lineno or 0, f.name) for f in reversed(traceback.extract_stack(frame))]
    return describe_stack(frames)


def running_children() -> list[int]:
    """Pids of this process's descendants that are still running (not zombies, not multiprocessing's helpers)."""
    import psutil

    from ..runner import _is_helper

    found = []
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return found
    for proc in children:
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and not _is_helper(proc):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def is_running(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def child_pids(tl: Timeline) -> list[int]:
    """Pids of the target runs recorded on the timeline that were real child processes."""
    pids = []
    for e in tl.events():
        if e.kind == "state" and e.detail.startswith(STARTED) and e.pid not in pids:
            pids.append(e.pid)
    return pids


def ran_in_caller(tl: Timeline) -> bool:
    return any(e.kind == "mark" and e.what == "target ran here" for e in tl.events())


def reap(tl: Timeline | None = None) -> None:
    """Kill every child the student's code left behind, and wait until each has ended."""
    import psutil

    pids = set(running_children())
    if tl is not None:
        pids.update(p for p in child_pids(tl) if p != os.getpid())
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.kill()
            procs.append(proc)
        except psutil.Error:
            continue
    deadline = time.monotonic() + 3
    while any(is_running(proc.pid) for proc in procs) and time.monotonic() < deadline:
        time.sleep(0.01)                       # a zombie has ended: its parent reaps it
    multiprocessing.active_children()          # reap our own children


def exits_after(tl: Timeline, t: float) -> list[tuple[float, float]]:
    """[(t, when the last child ended)] if some child was still running at ``t`` (still running: now)."""
    events = tl.events()
    end = t
    for pid in child_pids(tl):
        ends = [e.t for e in events if e.pid == pid and e.kind == "state" and e.what == "exited"]
        if is_running(pid):
            end = max(end, time.perf_counter())
        elif ends:
            end = max(end, ends[-1])
    return [(t, end)] if end > t else []


def describe_exception(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}) (sys.exit() ran in the caller)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


RUN_NOT_START = ("{call} ran the target in the calling process (pid {pid}), so no child process ever existed: "
                 "p.run() only calls the target here; call p.start() to create the child, then p.join() it.")


# ----------------------------------------------------------------------------------
# run_all

def _judge_run_all(run_all, target, arg_tuples: list[tuple], expected: list[int], shown: str,
                   tl: Timeline, patience: float) -> tuple[Verdict | None, Outcome]:
    """The verdicts every run_all check shares: returned, in children, after they ended, codes in order."""
    call_text = f"run_all({target.__name__}, {shown})"
    out = call(run_all, (target, arg_tuples), patience, tl, "in run_all")
    if not out.done:
        return failed(f"{call_text} had not returned after {patience:g} s: it {out.where}; the targets end "
                      "on their own, so start them all and join each of them.", tl,
                      title="run_all never returned"), out
    if ran_in_caller(tl):
        return failed(RUN_NOT_START.format(call=call_text, pid=os.getpid()), tl,
                      title="the targets ran in the caller's own process"), out
    if out.error is not None:
        return failed(f"{call_text} raised {describe_exception(out.error)}."), out
    result = out.value
    if not isinstance(result, (list, tuple)):
        return failed(f"{call_text} returned {result!r}; return the list of the children's exit codes "
                      "(p.exitcode of each process), in the order of arg_tuples."), out
    result = list(result)
    started = child_pids(tl)
    late = exits_after(tl, out.ended)
    if None in result or out.running_at_return or late:
        still = len(out.running_at_return)
        settle(2)
        late = exits_after(tl, out.ended)
        running = f" while {still} of its children were still running" if still else ""
        return failed(f"{call_text} returned {result!r}{running}: call p.join() on every process before you "
                      "read its exitcode (it stays None until the child has ended and been joined).", tl, late,
                      title="run_all returned before its children ended"), out
    if len(started) != len(arg_tuples):
        return failed(f"{call_text} started {len(started)} child process(es) for {len(arg_tuples)} argument "
                      "tuple(s): start exactly one process per tuple."), out
    if result != expected:
        return failed(f"{call_text} returned {result!r}, expected {expected!r}: return each child's "
                      "p.exitcode, in the order of arg_tuples (not the order in which they ended)."), out
    return None, out


@check(timeout=15, label="run_all")
def check_run_all_exit_codes(run_all) -> Verdict:
    """Three children that end with exit codes 3, 0 and 7 (the first one ends last)."""
    enter_judge()
    tl = Timeline()
    try:
        plan = [(0.6, 3), (0.35, 0), (0.1, 7)]
        args = [(tl, seconds, code) for seconds, code in plan]
        shown = "[(tl, 0.6, 3), (tl, 0.35, 0), (tl, 0.1, 7)]"
        verdict, _out = _judge_run_all(run_all, work_then_exit, args, [3, 0, 7], shown, tl, patience=8)
        return verdict or passed()
    finally:
        reap(tl)
        tl.remove()


@check(timeout=20, label="run_all")
def check_run_all_runs_children_at_once(run_all) -> Verdict:
    """Three children must all be running at once: each waits at a barrier for the other two."""
    enter_judge()
    tl = Timeline()
    patience = 4.0
    try:
        barrier = multiprocessing.get_context().Barrier(3)
        args = [(tl, barrier, patience)] * 3
        verdict, _out = _judge_run_all(run_all, meet_the_others, args, [0, 0, 0], "[(tl, barrier, 4)] * 3",
                                       tl, patience=patience * 3 + 3)
        if verdict is not None:
            return verdict
        events = tl.events()
        met = [e for e in events if e.kind == "mark" and e.what == "met"]
        if len(met) == 3:
            return passed()
        alone = [(s.start, s.end) for s in spans_of(events)
                 if s.state == "blocked" and s.name != CALLER and s.end - s.start > patience * 0.5]
        return failed("the children ran one after another, never at the same time (the first one waited "
                      f"{patience:g} s for the others in vain): start() every process first, and only then "
                      "join() them all.", tl, alone, title="run_all: no two children ever ran at once")
    finally:
        reap(tl)
        tl.remove()


@check(timeout=15, label="run_all")
def check_run_all_keeps_every_exit_code(run_all) -> Verdict:
    """Five children (normal return, sys.exit(2), death by SIGTERM, sys.exit(1)), and no tuples at all."""
    enter_judge()
    tl = Timeline()
    try:
        plan = [(0.5, 0), (0.1, 2), (0.3, -signal.SIGTERM), (0.2, 1), (0.4, 0)]
        if os.name != "posix":
            plan[2] = (0.3, 4)
        args = [(tl, seconds, int(code)) for seconds, code in plan]
        shown = "[" + ", ".join(f"(tl, {s:g}, {int(c)})" for s, c in plan) + "]"
        verdict, _out = _judge_run_all(run_all, work_then_exit, args, [int(c) for _s, c in plan], shown, tl,
                                       patience=8)
        if verdict is not None:
            return verdict
        out = call(run_all, (work_then_exit, []), 5, None)
        if not out.done:
            return failed(f"run_all(work_then_exit, []) had not returned after 5 s: it {out.where}.")
        if out.error is not None:
            return failed(f"run_all(work_then_exit, []) raised {describe_exception(out.error)}; "
                          "with no tuples there is nothing to run: return [].")
        if out.value is None or list(out.value) != []:
            return failed(f"run_all(work_then_exit, []) returned {out.value!r}, expected [].")
        return passed()
    finally:
        reap(tl)
        tl.remove()


# ----------------------------------------------------------------------------------
# SquareWorker

def _get(q, timeout: float):
    try:
        return q.get(timeout=timeout)
    except queue.Empty:
        return None


def _multiplied_in(tl: Timeline) -> set[int]:
    return {e.pid for e in tl.events() if e.kind == "mark" and e.what == "n * n"}


def _judge_square_workers(SquareWorker, inputs: list[list[int]], tl: Timeline) -> Verdict:
    ctx = multiprocessing.get_context()
    q = ctx.Queue()
    shown = [f"SquareWorker({numbers}, q)" for numbers in inputs]
    workers = []
    for numbers, text in zip(inputs, shown):
        try:
            workers.append(SquareWorker([TracedInt(n, tl) for n in numbers], q))
        except NotImplementedError:
            raise
        except Exception as exc:  # noqa: BLE001 (the student's constructor may raise anything)
            return failed(f"{text} raised {describe_exception(exc)}.")
    for w, text in zip(workers, shown):
        if not isinstance(w, multiprocessing.process.BaseProcess):
            return failed(f"{text} is not a multiprocessing.Process: write `class SquareWorker(multiprocessing."
                          "Process)`.")
    early = _get(q, 0.3)
    if early is not None:
        return failed(f"{early!r} arrived on out_queue before start() was called, from the parent (pid "
                      f"{os.getpid()}): the work was done in __init__; only store numbers and out_queue there "
                      "and do the work in run(), which runs in the child after start().")
    if os.getpid() in _multiplied_in(tl):
        return failed(f"the squares of {shown[0]} were computed in the parent (pid {os.getpid()}), before "
                      "start(): __init__ runs in the parent, so only store numbers and out_queue there and "
                      "compute the squares in run().")
    for w, text in zip(workers, shown):
        try:
            w.start()
        except AttributeError as exc:
            if not all(hasattr(w, name) for name in ("_config", "_popen", "_identity")):
                return failed(f"{text}.start() raised AttributeError ({exc}): SquareWorker.__init__ never "
                              "calls super().__init__(), so the Process machinery is not set up; call "
                              "super().__init__() at the top of __init__.")
            return failed(f"{text}.start() raised AttributeError ({exc}): an attribute that run() or start() "
                          "needs was never set; set it in __init__ after super().__init__().")
        except Exception as exc:  # noqa: BLE001 (e.g. a PicklingError under spawn)
            return failed(f"{text}.start() raised {describe_exception(exc)}.")
    got, received = {}, 0
    deadline = time.monotonic() + 6
    while received < len(workers) and time.monotonic() < deadline:
        item = _get(q, max(deadline - time.monotonic(), 0.01))
        if item is None:
            break
        if not (isinstance(item, tuple) and len(item) == 2):
            return failed(f"run() put {item!r} on out_queue; put the tuple (os.getpid(), squares).")
        got.setdefault(item[0], []).append(item[1])
        received += 1
    for w in workers:
        w.join(3)
    by_pid = {w.pid: (numbers, text) for w, numbers, text in zip(workers, inputs, shown)}
    for pid, results in got.items():
        if pid == os.getpid():
            return failed(f"out_queue received {(pid, results[0])!r}: that pid is the parent's, so the work was "
                          "not done in the child; compute and put (os.getpid(), squares) in run().")
        if pid not in by_pid:
            return failed(f"out_queue received a result with pid {pid!r}, which is none of the workers' pids "
                          f"({sorted(by_pid)}): put (os.getpid(), squares), with os.getpid() called in run().")
    for w, numbers, text in zip(workers, inputs, shown):
        results = got.get(w.pid, [])
        want = [n * n for n in numbers]
        if not results:
            return failed(f"nothing arrived on out_queue from {text} within 6 s of start(): run() must put "
                          "(os.getpid(), [n * n for n in numbers]) on out_queue.")
        if len(results) > 1:
            return failed(f"{text} put {len(results)} results on out_queue; put exactly one tuple.")
        if not isinstance(results[0], (list, tuple)) or list(results[0]) != want:
            return failed(f"{text} put ({w.pid}, {results[0]!r}) on out_queue, expected ({w.pid}, {want}).")
        if w.exitcode != 0:
            return failed(f"{text} ended with exit code {w.exitcode}, expected 0.")
    computed = _multiplied_in(tl)
    if os.getpid() in computed:
        return failed(f"the squares were computed in the parent (pid {os.getpid()}): compute them in run(), "
                      "which runs in the child.")
    return passed()


@check(timeout=15, label="SquareWorker")
def check_square_worker_squares(SquareWorker) -> Verdict:
    """SquareWorker([1, 2, 3], q): after start(), (child's pid, [1, 4, 9]) arrives on q, and nothing before."""
    enter_judge()
    tl = Timeline()
    try:
        return _judge_square_workers(SquareWorker, [[1, 2, 3]], tl)
    finally:
        reap(tl)
        tl.remove()


@check(timeout=15, label="SquareWorker")
def check_square_worker_works_in_the_child(SquareWorker) -> Verdict:
    """Three workers at once (negative numbers, an empty list): each squares in its own child."""
    enter_judge()
    tl = Timeline()
    try:
        return _judge_square_workers(SquareWorker, [[4, -5, 6, 0], [], [7]], tl)
    finally:
        reap(tl)
        tl.remove()
