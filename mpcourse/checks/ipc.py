"""Checks for assignment 04_ipc: pipe_worker, count_words, add_all.

* ``pipe_worker`` runs in a real child process on the child end of a duplex ``Pipe``.
  The child is kept alive after ``pipe_worker`` returns, and the checker has closed its
  own copy of the child end, so ``recv()`` on the parent end raises ``EOFError`` at
  once exactly when ``pipe_worker`` closed ``conn`` (a process exit would close it
  anyway and hide the mistake).
* ``count_words`` gets ``tokenize`` from here: it records which process ran it, and
  every call waits at a rendezvous until the other workers are tokenizing too, so they
  come back together and update any shared dict *at the same moment*, with many repeated words:
  an unlocked read-modify-write loses updates on every run.
* ``add_all`` adds into an instrumented ``mpcourse.shared.Counter`` whose reads and
  writes pause until the other participants catch up (as in ``checks.locks``).
"""
from __future__ import annotations

import collections
import contextlib
import functools
import json
import multiprocessing
import os
import sys
import time

from .._old_shared import Arena, Counter, Deadlock, run_participants
from ..timeline import Timeline, spans_of
from . import Verdict, check, failed, overlaps, passed
from .locks import lock_was_used, lost_update_overlaps, writes_outside_lock

# ------------------------------------------------------------------------ pipe_worker

PIPE_MESSAGES = ["hello", "Pipe", "duplex by default", "ünïcode ok", "", "last one"]
REPLY_PATIENCE = 3.0        # s the checker waits for each answer
EOF_PATIENCE = 2.0          # s the checker waits for EOF once pipe_worker has returned


def raised(timeline, call):  # legacy, until this module is ported to the judge
    for e in timeline.events():
        if e.kind == "mark" and e.what == "raised":
            return failed("legacy/raised", f"{call} raised {e.detail}.")
    return None



def _serve_pipe_worker(pipe_worker, conn, returned, release, timeline: Timeline) -> None:
    """Child: run the student's pipe_worker, then stay alive (holding ``conn``) until released.

    Staying alive matters: if the process exited, the OS would close ``conn`` for the
    student and the parent would see EOF even when ``pipe_worker`` forgot to close it.
    """
    timeline.state("running", "pipe_worker(conn)")
    try:
        pipe_worker(conn)
    except Exception as exc:        # recorded for the check, not printed into the notebook
        timeline.mark("raised", f"{type(exc).__name__}: {exc}")
    timeline.state("sleeping", "pipe_worker returned; the process stays alive")
    returned.set()
    release.wait(30)
    timeline.state("exited")
    del conn


def _start_pipe_worker(pipe_worker):
    ctx = multiprocessing.get_context()
    timeline = Timeline()
    parent, child = ctx.Pipe()              # duplex, as in the exercise
    returned, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_serve_pipe_worker, args=(pipe_worker, child, returned, release, timeline),
                       name="pipe_worker", daemon=True)
    proc.start()
    child.close()        # the parent's copy of the child end (a real copy under fork): only the child holds it now
    return parent, proc, returned, release, timeline


def _stop(proc, release) -> None:
    release.set()
    proc.join(3)
    if proc.is_alive():
        proc.kill()
        proc.join(1)


def _converse(parent, proc, returned, timeline, messages) -> Verdict | None:
    """Send each message, expect its upper-case answer; a failed verdict, or None when all answered."""
    for s in messages:
        try:
            parent.send(s)
        except (BrokenPipeError, OSError):
            return _early_end(proc, returned, timeline, s)
        try:
            answered = parent.poll(REPLY_PATIENCE)
        except (EOFError, OSError):
            return _early_end(proc, returned, timeline, s)
        if not answered:
            if returned.is_set() or not proc.is_alive():
                return _early_end(proc, returned, timeline, s)
            if s == "":
                return failed("pipe_worker did not answer the empty string '' (it should answer ''): only None "
                              "means stop, so test `s is None`, not `not s`.")
            return failed(f"pipe_worker did not answer {s!r} within {REPLY_PATIENCE:g} s: answer each string "
                          "with conn.send(s.upper()) as soon as you receive it.")
        try:
            reply = parent.recv()
        except (EOFError, OSError):
            return _early_end(proc, returned, timeline, s)
        if reply != s.upper():
            return failed(f"pipe_worker answered {s!r} with {reply!r}, expected {s.upper()!r}: send back s.upper().")
    return None


def _early_end(proc, returned, timeline, s) -> Verdict:
    error = raised(timeline, f"pipe_worker(conn) on receiving {s!r}")
    if error:
        return error
    if s == "":
        return failed("pipe_worker stopped at the empty string '': only None means stop, so test `s is None`, "
                      "not `not s`.")
    return failed(f"pipe_worker stopped before answering {s!r}: keep receiving and answering until you "
                  "receive None.")


@check(timeout=15, label="pipe_worker")
def check_pipe_worker_answers(pipe_worker) -> Verdict:
    """In a child process: each string comes back upper-cased, in order; None makes it return."""
    parent, proc, returned, release, timeline = _start_pipe_worker(pipe_worker)
    try:
        bad = _converse(parent, proc, returned, timeline, ["hello", "Pipe", "world"])
        if bad:
            return bad
        parent.send(None)
        if not returned.wait(5):
            return failed("pipe_worker did not return after it received None: leave the loop when "
                          "`conn.recv()` gives None, close conn and return.")
        error = raised(timeline, "pipe_worker(conn) after receiving None")
        if error:
            return error
        return passed()
    finally:
        _stop(proc, release)
        parent.close()


@check(timeout=15, label="pipe_worker")
def check_pipe_worker_closes_its_end(pipe_worker) -> Verdict:
    """After None, pipe_worker closes conn: the parent's recv() raises EOFError while the child still lives."""
    parent, proc, returned, release, timeline = _start_pipe_worker(pipe_worker)
    try:
        bad = _converse(parent, proc, returned, timeline, PIPE_MESSAGES)
        if bad:
            return bad
        parent.send(None)
        if not returned.wait(5):
            return failed("pipe_worker did not return after it received None: leave the loop when "
                          "`conn.recv()` gives None, close conn and return.")
        error = raised(timeline, "pipe_worker(conn) after receiving None")
        if error:
            return error
        if not parent.poll(EOF_PATIENCE):
            return failed("pipe_worker returned without closing its end of the pipe, so the other end never sees "
                          "EOF (recv() would wait forever while the process lives): call conn.close() before "
                          "returning (or use `with conn:`).", timeline, title="pipe_worker: conn left open")
        try:
            extra = parent.recv()
        except EOFError:
            if not proc.is_alive():          # cannot happen: the child waits for `release`
                return failed("the pipe_worker process ended before the check could look at the pipe; "
                              "please tell your instructor.")
            return passed()
        return failed(f"pipe_worker sent {extra!r} after it received None: send nothing more, close conn "
                      "and return.")
    finally:
        _stop(proc, release)
        parent.close()


# ------------------------------------------------------------------------ count_words

MIN_WORK = 0.004            # every tokenize call takes at least this long
FIRST_PATIENCE = 3.0        # s the first calls wait for the other workers to start
PATIENCE = 0.15             # s later calls wait for a worker that has no more lines


@contextlib.contextmanager
def _file_lock(folder: str):
    """A lock any process can take, however it got here (a file created with O_EXCL)."""
    path = os.path.join(folder, "lock")
    deadline = time.monotonic() + 2.0
    while True:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            if time.monotonic() > deadline:      # its holder was killed: take it over
                break
            time.sleep(0.0002)
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _read_state(folder: str) -> dict:
    try:
        with open(os.path.join(folder, "state.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"gen": 0, "waiting": [], "seen": [], "first": None, "release_at": 0.0}


def _write_state(folder: str, state: dict) -> None:
    path = os.path.join(folder, "state.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(path + ".tmp", path)


def _rendezvous(folder: str, expected: int) -> None:
    """Wait until every worker that has tokenized so far is waiting here too, then all return at once.

    The first round also waits (up to FIRST_PATIENCE) until ``expected`` workers have
    arrived, so a worker that started late cannot fall behind; a worker that has no more
    lines holds the others up for at most PATIENCE. Everyone leaves at the same instant.
    """
    me = os.getpid()
    with _file_lock(folder):
        state = _read_state(folder)
        gen = state["gen"]
        if me not in state["seen"]:
            state["seen"].append(me)
        state["waiting"].append(me)
        if state["first"] is None:
            state["first"] = time.time()
        _write_state(folder, state)
    while True:
        with _file_lock(folder):
            state = _read_state(folder)
            if state["gen"] == gen:
                want = max(len(state["seen"]), expected if gen == 0 else 0)
                patience = FIRST_PATIENCE if gen == 0 else PATIENCE
                if len(set(state["waiting"])) >= want or time.time() - state["first"] > patience:
                    state.update(gen=gen + 1, waiting=[], first=None, release_at=time.time() + 0.002)
                    _write_state(folder, state)
        if state["gen"] != gen:
            break
        time.sleep(0.0005)
    while time.time() < state["release_at"]:     # leave together, to the tenth of a millisecond
        pass


def tokenize_in_lockstep(folder: str, expected: int, line: str) -> list[str]:
    """The ``tokenize`` handed to count_words: ``line.split()``, slowly, in step with the other workers.

    It records which process ran it (a Timeline in ``folder``), and returns only when
    every worker is tokenizing too, so concurrent workers get their words back at the
    same instant and then update whatever they share at the same time.
    """
    timeline = Timeline(folder)
    timeline.state("running", "tokenize(line)")
    time.sleep(MIN_WORK)
    meeting = os.path.join(folder, "rendezvous")
    os.makedirs(meeting, exist_ok=True)
    _rendezvous(meeting, expected)
    global _meeting
    _meeting = meeting          # from now on, this worker's manager calls with words pause (see Word)
    words = [Word(w) for w in line.split()]
    timeline.state("counting", "counting the words")
    return words


# Every call to a Manager that carries a word (``d.get(w, 0)``, ``w in d``, ``d[w] = n``)
# pauses until each other worker is paused at such a call too, or waits in tokenize, or is
# blocked (asleep in the OS for a moment: waiting for a lock, a queue, a join), or has
# exited. Workers that update a shared dict without a lock therefore read the same count
# before either writes it back, on every run; a worker that holds a lock only waits the
# moment it takes to see that the others are blocked.

OP_PATIENCE = 0.5           # s a paused manager call waits at most
ASLEEP_FOR = 0.002          # s another worker must stay asleep in the OS to count as blocked
_meeting: str | None = None  # this worker's rendezvous folder (set by tokenize)
_paused_call = None          # the manager call this worker last paused at (one pause per call)


class Word(str):
    """A token: a plain ``str`` that notices when it is sent to a Manager."""

    __slots__ = ()

    def __reduce_ex__(self, protocol):
        if _meeting is not None:
            call = _manager_call()
            global _paused_call
            if call is not None and call is not _paused_call:
                _paused_call = call
                _pause_with_the_others(_meeting)
        return Word, (str(self),)


def _manager_call():
    """The frame of the Manager proxy call that is pickling this word, if any."""
    frame = sys._getframe(2)
    for _ in range(8):
        if frame is None:
            return None
        code = frame.f_code
        if code.co_name == "_callmethod" and code.co_filename.endswith("managers.py"):
            return frame
        frame = frame.f_back
    return None


def _os_state_reader():
    try:
        import psutil
    except ImportError:
        return None
    if not sys.platform.startswith(("linux", "darwin")):      # elsewhere psutil cannot tell asleep from running
        return None

    def asleep(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() not in (psutil.STATUS_RUNNING, psutil.STATUS_WAKING)
        except psutil.Error:
            return True                  # gone
    return asleep


def _pause_with_the_others(meeting: str) -> None:
    me = os.getpid()
    asleep = _os_state_reader()
    path = os.path.join(meeting, "ops.json")

    def read() -> dict:
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            return {"gen": 0, "paused": []}

    def write(state: dict) -> None:
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(path + ".tmp", path)

    with _file_lock(meeting):
        state = read()
        gen = state["gen"]
        state["paused"].append(me)
        write(state)
    asleep_since: dict[int, float] = {}
    deadline = time.monotonic() + (OP_PATIENCE if asleep else 0.02)
    while True:
        with _file_lock(meeting):
            state = read()
            if state["gen"] != gen:
                break
            workers = _read_state(meeting)
            ready = True
            now = time.monotonic()
            for pid in workers["seen"]:
                if pid == me or pid in state["paused"] or pid in workers["waiting"]:
                    continue
                if asleep is not None and asleep(pid):
                    if now - asleep_since.setdefault(pid, now) >= ASLEEP_FOR:
                        continue
                else:
                    asleep_since.pop(pid, None)
                ready = False
            if ready or now > deadline:
                state.update(gen=gen + 1, paused=[])
                write(state)
                break
        time.sleep(0.0002)


def make_tokenize(timeline: Timeline, n_workers: int):
    """A picklable ``tokenize(line)`` (a module-level function, so every start method finds it)."""
    return functools.partial(tokenize_in_lockstep, timeline.folder, n_workers)


def _lines(n_lines: int, repeats: int, distinct: int) -> list[str]:
    """Lines with many repeated words (so updates collide) and some words of their own."""
    lines = []
    for i in range(n_lines):
        words = ["spam"] * repeats + ["eggs", "ham"] * (repeats // 4)
        words += [f"w{j}" for j in range(distinct)] + [f"line{i}"]
        lines.append(" ".join(words))
    return lines


def _tokenize_spans(events) -> dict[int, list[tuple[float, float]]]:
    found: dict[int, list[tuple[float, float]]] = {}
    for s in spans_of(events):
        if s.state == "running" and s.detail == "tokenize(line)":
            found.setdefault(s.pid, []).append((s.start, s.end))
    return found


def _max_at_once(spans: dict[int, list[tuple[float, float]]]) -> int:
    edges = sorted([(a, 1) for v in spans.values() for a, _ in v] + [(b, -1) for v in spans.values() for _, b in v],
                   key=lambda e: (e[0], e[1]))
    most = now = 0
    for _t, step in edges:
        now += step
        most = max(most, now)
    return most


def _as_dict(result):
    try:
        return dict(result), None
    except Exception as exc:
        return None, (f"count_words returned a {type(result).__name__} that could not be read "
                      f"({type(exc).__name__}) — a Manager proxy dies with its manager: return a plain dict, "
                      "e.g. dict(shared).")


def _judge_count_words(count_words, lines: list[str], n_workers: int) -> Verdict:
    timeline = Timeline()
    tokenize = make_tokenize(timeline, n_workers)
    got = count_words(lines, n_workers, tokenize)
    timeline.mark("returned", "count_words returned")    # the workers' last counting lasted until here
    counts, problem = _as_dict(got)
    if problem:
        return failed(problem)
    events = timeline.events()
    spans = _tokenize_spans(events)
    me = os.getpid()
    call = f"count_words(lines, {n_workers}, tokenize)"
    if me in spans:
        return failed(f"{call} ran tokenize in the calling process: hand the lines to worker processes and "
                      "call tokenize only there.", timeline, title="count_words: where tokenize ran")
    if not spans:
        return failed(f"{call} never called tokenize: split every line with tokenize(line) in the workers.")
    if n_workers >= 2 and len(spans) < 2:
        return failed(f"{call} ran tokenize in only one process: spread the lines over the workers so that at "
                      "least two of them tokenize at the same time.", timeline,
                      title="count_words: only one worker tokenized")
    most = _max_at_once(spans)
    if most > n_workers:
        return failed(f"{call} ran tokenize in {most} processes at the same time: use at most n_workers "
                      "processes.", timeline, title="count_words: too many processes")
    want = collections.Counter(w for line in lines for w in line.split())
    if counts == dict(want):
        return passed()
    wrong = [w for w in want if counts.get(w, 0) != want[w]] + [w for w in counts if w not in want]
    w = max(wrong, key=lambda k: want.get(k, 0))
    example = f"{w!r}: {counts.get(w, 0)} instead of {want.get(w, 0)}"
    lost = sum(want.values()) - sum(v for v in counts.values() if isinstance(v, int))
    counting = {}
    for s in spans_of(events):
        if s.state == "counting":
            counting.setdefault(s.pid, []).append((s.start, s.end))
    pids = sorted(counting)
    clash = [o for i, a in enumerate(pids) for b in pids[i + 1:] for o in overlaps(counting[a], counting[b])]
    if lost > 0 and len(spans) >= 2:
        return failed(f"{call} lost {lost} word count(s) ({example}): two workers read a shared count before "
                      "either wrote it back; update the shared dict under one lock, or count in each worker "
                      "and add the partial counts up in the caller.", timeline, clash,
                      title="count_words: workers updating at the same time")
    return failed(f"{call} returned wrong counts ({example}): count every token of every line exactly once.")


@check(timeout=20, label="count_words")
def check_count_words_small(count_words) -> Verdict:
    """A few lines with two workers, then with one: exact counts, tokenize only in children."""
    lines = ["the quick brown fox", "jumps over the lazy dog", "the dog sleeps", "a fox and a dog"]
    verdict = _judge_count_words(count_words, lines, 2)
    if not verdict.ok:
        return verdict
    return _judge_count_words(count_words, lines[:2], 1)


@check(timeout=20, label="count_words")
def check_count_words_never_loses_a_count(count_words) -> Verdict:
    """Three workers get their words back at the same instant, and the words repeat: no count may be lost."""
    return _judge_count_words(count_words, _lines(6, 8, 12), 3)


@check(timeout=20, label="count_words")
def check_count_words_two_workers(count_words) -> Verdict:
    """The same with two workers (a different split of the lines)."""
    return _judge_count_words(count_words, _lines(6, 8, 12), 2)


# ---------------------------------------------------------------------------- add_all

WORKERS = 3


@check(timeout=15, label="add_all")
def check_add_all_once(add_all) -> Verdict:
    """One process adds 5, 6 and 7 to 100: 118, and the lock is free afterwards; an empty list adds nothing."""
    for numbers, want in (([5, 6, 7], 118), ([], 100)):
        arena = Arena(1)
        total = Counter(arena, 100)
        try:
            run_participants(arena, add_all, [(total, numbers)], name="add_all")
        except Deadlock as exc:
            return failed(f"add_all deadlocked: {exc}; take the lock once (`with total.get_lock():` already "
                          "acquires it).", arena.timeline, title="deadlock")
        error = raised(arena.timeline, f"add_all(total, {numbers})")
        if error:
            return error
        if total.raw != want:
            return failed(f"after add_all(total, {numbers}) with total.value == 100, total.value is {total.raw}, "
                          f"expected {want}.")
        lock = total.get_lock()
        if not lock.acquire(timeout=1):
            return failed("add_all returned with total.get_lock() still held: release it (use `with "
                          "total.get_lock():`).")
        lock.release()
    return passed()


@check(timeout=20, label="add_all")
def check_add_all_keeps_every_update(add_all) -> Verdict:
    """Three processes add at the same time; each read and write waits for the others: no update may be lost."""
    arena = Arena(WORKERS)
    total = Counter(arena, 0)
    numbers = [[1, 2, 3], [10, 20], [100, 200, 300]]
    try:
        run_participants(arena, add_all, [(total, ns) for ns in numbers], name="add_all")
    except Deadlock as exc:
        return failed(f"add_all deadlocked: {exc}; take the lock once (`with total.get_lock():` already "
                      "acquires it).", arena.timeline, title="deadlock")
    error = raised(arena.timeline, "add_all(total, numbers)")
    if error:
        return error
    events = arena.timeline.events()
    clash = lost_update_overlaps(events, "total")
    want = sum(map(sum, numbers))
    if total.raw == want and not clash:
        return passed()
    lost = f"total.value is {total.raw}, expected {want}"
    if not lock_was_used(events):
        why = (f"{WORKERS} processes called add_all at once and {lost}: `total.value += n` is a read and then a "
               "write, and another process wrote in between, because add_all never took total.get_lock() (a lock "
               "made inside the function protects nothing); do it under `with total.get_lock():`.")
    elif writes_outside_lock(events, "total"):
        why = (f"two processes read total.value before either wrote it back ({lost}): the write happens outside "
               "the lock; keep the read and the write of total.value inside `with total.get_lock():`.")
    else:
        why = (f"two processes read total.value before either wrote it back ({lost}): hold total.get_lock() "
               "around the whole read-modify-write.")
    return failed(why, arena.timeline, clash, title="add_all: read-modify-write windows overlap")
