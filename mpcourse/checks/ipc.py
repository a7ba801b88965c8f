"""Checks for assignment 04_ipc: pipe_worker, count_words, add_all.

The judge never calls the student's code: it runs in the stage (``mpcourse.stage``), and
every verdict rests on what the judge holds or sees itself.

Test plan (COURSE_SPEC.md's contract, dimension by dimension):

``pipe_worker(conn)`` — the stage makes a real duplex ``multiprocessing.Pipe``, hands the
parent's end to the judge (the descriptor itself on POSIX; on Windows a relay in the stage
forwards its frames) and runs ``pipe_worker`` on the child's end in a process that stays
alive after it returns. The judge speaks the Pipe's own framing on its end and reads each
reply's pickle opcodes without unpickling them.
  * values: each string comes back upper-cased, in order (``check_pipe_worker_closes_its_end``,
    the visible test); the empty string ``''`` (a falsy string that must not stop it), non-ASCII
    text and a 300 KB string, larger than the pipe's buffer (``check_pipe_worker_answers_every_string``);
  * timing: each string is sent only after the previous answer came (a worker that answers
    only at the end never answers); the parent pauses 1 s once (a worker that gives up on a
    slow parent stops there);
  * leftovers: after ``None`` the judge's own end sees EOF while the OS still shows the
    child process alive, so the EOF can only come from ``conn.close()`` (both checks);
    nothing may arrive after ``None``; it must return (a hang is reported with its line);
  * exceptions: an exception in ``pipe_worker`` is reported with its line.
``count_words(lines, n_workers, tokenize)`` — ``tokenize`` is a course object: each call
asks the judge for the tokens, so the judge knows which process (by the kernel's peer pid)
tokenized which line, and computes the expected counts itself. The workers move in
lockstep: every tokenize call and every call on a Manager dict with a key waits until every
other process of the stage is stuck too (waiting at such a step, in a Manager call that can
block such as a lock, asleep in the kernel, or gone). Two workers that update a shared dict
without a lock therefore both read a count before either writes it back, every time.
  * values: exact counts, compared by type and value with the judge's Counter; a result
    that is not a dict (a dead Manager proxy) is named;
  * structure: tokenize never in the caller (a call from the stage's own process), every
    line tokenized, at least two processes tokenize when ``n_workers >= 2``, never more than
    ``n_workers`` at once (``check_count_words_small`` with 2 and 1 workers, the other checks
    with 3 and 2);
  * concurrency: the Manager dict's two-call race (``d[w] = d.get(w, 0) + 1``, ``if w in d``,
    ``d[w] += c``) is judged from the judge's own log of each read and write: a read-to-write
    window of one worker overlapping another's on the same word fails, lost counts or not
    (``check_count_words_never_loses_a_count``, the visible test, and
    ``check_count_words_two_workers``);
  * timing: a hang is reported with where each process is stuck.
``add_all(total, numbers)`` — ``total`` is an ``Arena`` counter (``mpcourse.shared``): every
read and write of ``total.value`` waits until the other participants are stuck too.
  * values: 100 + [5, -6, 7] gives 106 and an empty list changes nothing (``check_add_all_once``);
  * concurrency: three processes add at once (``check_add_all_keeps_every_update``, the visible
    test): no lock, a private lock, a read outside the lock all lose an update every time;
  * timing: the checker holds ``total.get_lock()`` longer than the student's own
    ``acquire(timeout=...)`` (``check_add_all_waits_for_the_lock``);
  * locks: the lock must be free afterwards; taking it again inside is fine (``Value``'s lock is an RLock).
Leftovers everywhere: the stage, and every process the student's code started, is killed
after each check.
"""
from __future__ import annotations

import struct
import sys
import threading
import time

from ..judge import JudgeObject, Refusal
from ..stage import Proxy, register_proxy
from . import Verdict, check, failed, passed

# =====================================================================================
# pipe_worker
# =====================================================================================

VISIBLE_PIPE_MESSAGES = ["hello", "Pipe", "duplex by default"]
HIDDEN_PIPE_MESSAGES = ["", "ünïcode ✓", "spam " * 60_000, "after a pause", "last one"]
PAUSE_BEFORE = 3            # index of the message the parent sends only after a pause
PARENT_PAUSE = 1.0          # s: longer than a worker that gives up on a quiet pipe would wait
REPLY_PATIENCE = 5.0        # s the judge waits for each answer (a loaded machine can be slow)
RETURN_PATIENCE = 5.0       # s pipe_worker has to close conn and return after None
#: a Pipe end is a socket on POSIX: the judge takes the descriptor; elsewhere a relay in the stage forwards it
PIPE_RELAY = sys.platform == "win32"


# -- in the stage ---------------------------------------------------------------------

def pipe_ends(relay: bool = False) -> tuple:
    """A real duplex Pipe: (the end the judge takes, the child's end for pipe_worker)."""
    import multiprocessing

    parent, child = multiprocessing.get_context().Pipe()
    if not relay:
        return parent, child
    from ..stage import tcp_pair

    near, far = tcp_pair()
    threading.Thread(target=_relay_to_pipe, args=(near, parent), daemon=True).start()
    threading.Thread(target=_relay_from_pipe, args=(parent, near), daemon=True).start()
    return far, child


def _relay_to_pipe(sock, conn) -> None:
    """Frames from the judge go into the pipe as they are (bytes, never unpickled here)."""
    reader = _FrameReader(sock)
    try:
        while (payload := reader.read(None)) is not None:
            conn.send_bytes(payload)
    except OSError:
        pass


def _relay_from_pipe(conn, sock) -> None:
    """Whatever comes out of the pipe goes to the judge; EOF (every copy of the child's end closed) too."""
    import socket

    try:
        while True:
            sock.sendall(_frame(conn.recv_bytes()))
    except EOFError:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def close_end(conn) -> None:
    """Close the stage's own copy of the child's end, so that only pipe_worker's process holds it."""
    conn.close()


def serve_pipe_worker(pipe_worker, conn, recorder) -> None:
    """In the child process: run ``pipe_worker(conn)``, then stay alive, holding ``conn``, until the judge is done.

    Staying alive matters: when a process exits the OS closes its ends, so the parent
    would see EOF even if ``pipe_worker`` forgot to close ``conn``.
    """
    recorder.ask("started")
    recorder.state("running", "pipe_worker(conn)")
    try:
        pipe_worker(conn)
    except BaseException:
        recorder.state("blocked", "kept alive by the checker")
        recorder.ask("done", "raised")
        raise
    recorder.state("blocked", "kept alive by the checker")
    recorder.ask("done", "returned")


# -- the Pipe's wire format, spoken by the judge ------------------------------------------

def _frame(payload: bytes) -> bytes:
    """One message as multiprocessing.Connection writes it on POSIX: a 4-byte signed length, then the bytes."""
    if len(payload) > 0x7FFFFFFF:
        return struct.pack("!i", -1) + struct.pack("!Q", len(payload)) + payload
    return struct.pack("!i", len(payload)) + payload


class _FrameReader:
    """Reads whole frames from a socket, keeping partial data across timeouts."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = bytearray()
        self.eof = False

    def _frame_ready(self) -> bytes | None:
        if len(self.buffer) < 4:
            return None
        size, = struct.unpack("!i", self.buffer[:4])
        start = 4
        if size == -1:
            if len(self.buffer) < 12:
                return None
            size, = struct.unpack("!Q", self.buffer[4:12])
            start = 12
        if size < 0 or len(self.buffer) < start + size:
            return None
        payload = bytes(self.buffer[start:start + size])
        del self.buffer[:start + size]
        return payload

    def read(self, deadline: float | None):
        """The next frame's bytes; None at EOF; ``TimeoutError`` when ``deadline`` (monotonic) passes first."""
        while True:
            payload = self._frame_ready()
            if payload is not None:
                return payload
            if self.eof:
                return None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(1 << 20)
            except TimeoutError:           # socket.timeout
                raise TimeoutError from None
            if not chunk:
                self.eof = True
            self.buffer += chunk


_QUIET_OPS = {"PROTO", "FRAME", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "STOP"}
_VALUE_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINBYTES", "BINBYTES", "BINBYTES8",
              "BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT"}
_CONSTANT_OPS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}


def _value_of_pickle(data: bytes):
    """What the student's ``conn.send`` sent when it is a str, bytes, number, bool or None.

    Read from the pickle's opcodes (``pickletools.genops`` parses, it executes nothing):
    the judge never unpickles. Anything else is an ``Opaque`` that equals nothing.
    """
    import pickletools

    from .._wire import Opaque

    values = []
    try:
        for op, arg, _pos in pickletools.genops(data):
            if op.name in _QUIET_OPS:
                continue
            if op.name in _CONSTANT_OPS:
                values.append(_CONSTANT_OPS[op.name])
            elif op.name in _VALUE_OPS:
                values.append(arg)
            else:
                return Opaque("object", "an object that is not a string")
    except Exception:  # noqa: BLE001 (any malformed data)
        return Opaque("bytes", "bytes that are not a pickled value")
    return values[0] if len(values) == 1 else Opaque("object", "an object that is not a string")


def _show(value, limit: int = 40) -> str:
    """A value for a sentence: long strings cut, with their length."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit + 10 else text[:limit] + "..."


# -- the judge's side ---------------------------------------------------------------------

class _PipeSession:
    """The judge at the parent's end of a real Pipe whose child's end pipe_worker has, in a process of its own."""

    def __init__(self, judge, pipe_worker):
        from ..judge import Course

        self.judge = judge
        self.recorder = judge.recorder("pipe")
        self.started = threading.Event()
        self.done = threading.Event()
        self.release = threading.Event()
        self.how = ""
        self.recorder.on("started", lambda peer: self.started.set())
        self.recorder.on("done", self._on_done)
        parent, child = judge.make("mpcourse.checks.ipc:pipe_ends", PIPE_RELAY, parts=2)
        self.end = judge.take_socket(parent)
        self.reader = _FrameReader(self.end)
        self.call = judge.call(Course("mpcourse.checks.ipc:serve_pipe_worker"), pipe_worker, child, self.recorder,
                               mode="process", name="pipe_worker")
        judge.call(Course("mpcourse.checks.ipc:close_end"), child, name="close").wait(10)

    def _on_done(self, peer, how) -> None:
        self.how = str(how)
        self.done.set()
        self.release.wait(60)         # the process stays alive (holding conn) until the judge has looked

    def close(self) -> None:
        self.release.set()
        self.end.close()

    def _say(self, what: str, detail: str = "") -> None:
        self.judge.record("mark", what, detail, name="the parent", pid=0)

    def send(self, message) -> bool:
        import pickle

        self._say(f"send {_show(message, 14)}")
        self.end.settimeout(REPLY_PATIENCE)
        try:
            self.end.sendall(_frame(pickle.dumps(message)))
        except OSError:                       # a timeout too: nobody reads the child's end
            return False
        return True

    def receive(self, patience: float, stop_when_done: bool = True):
        """("reply", value), ("eof", None) or ("quiet", None) when nothing came (or pipe_worker ended first)."""
        deadline = time.monotonic() + patience
        while True:
            step = min(deadline, time.monotonic() + 0.05)
            try:
                payload = self.reader.read(step)
            except TimeoutError:
                if time.monotonic() >= deadline or stop_when_done and (self.done.is_set() or self.call.exited.is_set()):
                    return "quiet", None
                continue
            except OSError:
                return "eof", None
            if payload is None:
                self._say("EOF", "recv() raises EOFError")
                return "eof", None
            value = _value_of_pickle(payload)
            self._say(f"got {_show(value, 14)}")
            return "reply", value

    def exchange(self, message: str) -> Verdict | None:
        """Send one string, expect its upper-case answer before sending anything else."""
        if not self.send(message):
            return self.early_end(message)
        kind, value = self.receive(REPLY_PATIENCE)
        if kind != "reply":
            return self.early_end(message)
        if type(value) is not str or value != message.upper():
            return failed("pipe_worker/wrong-answer", f"pipe_worker answered {_show(message)} with {_show(value)}, "
                          f"expected {_show(message.upper())}: send back s.upper() for each string s.")
        return None

    def early_end(self, message: str | None) -> Verdict:
        """pipe_worker stopped (returned, raised, closed conn) or went quiet before answering ``message``."""
        self.done.wait(1.0)
        raised = self._raised(f"on receiving {_show(message)}")
        if raised:
            return raised
        if self.call.exited.is_set() and not self.done.is_set():
            return self._ended_process()
        if not (self.done.is_set() or self.reader.eof):
            return failed("pipe_worker/no-answer", f"pipe_worker did not answer {_show(message)} within "
                          f"{REPLY_PATIENCE:g} s: answer each string with conn.send(s.upper()) as soon as you "
                          "receive it.", self.judge.events(), title="pipe_worker: no answer")
        if message == "":
            return failed("pipe_worker/stops-on-empty", "pipe_worker stopped at the empty string '' instead of "
                          "answering '': only None means stop, so test `s is None`, not `not s`.",
                          self.judge.events(), title="pipe_worker stopped at ''")
        return failed("pipe_worker/stops-early", f"pipe_worker stopped before answering {_show(message)}: keep "
                      "receiving and answering until you receive None (a quiet pipe is no reason to stop).",
                      self.judge.events(), title="pipe_worker stopped early")

    def _raised(self, when: str) -> Verdict | None:
        if self.how == "raised" or self.call.status == "raised":
            self.release.set()
            self.call.wait(5)
            return failed("pipe_worker/raised", f"pipe_worker(conn) raised {self.call.error()} {when}.")
        return None

    def _ended_process(self) -> Verdict:
        return failed("pipe_worker/ended-process", "pipe_worker ended its process (os._exit(), or a crash) instead "
                      "of returning: close conn, then simply return.")

    def finish(self, count: int) -> Verdict:
        """Send None: pipe_worker must close its end (the judge's recv sees EOF) while its process lives, and return."""
        if not self.send(None):
            return self.early_end(None)
        deadline = time.monotonic() + RETURN_PATIENCE
        kind, value = "quiet", None
        while time.monotonic() < deadline:
            kind, value = self.receive(0.1, stop_when_done=False)
            if kind != "quiet":
                break
            if self.done.is_set() or self.call.exited.is_set():
                kind, value = self.receive(0.5, stop_when_done=False)     # its close came before its return
                break
        if kind == "reply":
            return failed("pipe_worker/sent-after-none", f"pipe_worker sent {_show(value)} after it received None: "
                          "send nothing more, close conn and return.")
        if kind == "quiet":
            raised = self._raised("after receiving None")
            if raised:
                return raised
            if self.done.is_set():
                return failed("pipe_worker/left-open", "pipe_worker returned without closing its end of the pipe, "
                              "so the parent never sees EOF (its recv() would wait forever while the process "
                              "lives): call conn.close() before returning (or use `with conn:`).",
                              self.judge.events(), title="pipe_worker: conn left open")
            if self.call.exited.is_set():
                return self._ended_process()
            where = "; ".join(self.judge.stacks()) or "no process said where it was"
            return failed("pipe_worker/no-return", f"pipe_worker did not return within {RETURN_PATIENCE:g} s after "
                          f"it received None: {where}; leave the loop when conn.recv() gives None.",
                          self.judge.events(), title="pipe_worker did not stop at None")
        # EOF: every copy of the child's end is closed. By conn.close() only if the process still lives.
        deadline = time.monotonic() + RETURN_PATIENCE
        while not self.done.wait(0.05) and not self.call.exited.is_set() and time.monotonic() < deadline:
            pass
        raised = self._raised("after receiving None")
        if raised:
            return raised
        if not self.done.is_set():
            if self.call.exited.is_set():
                return self._ended_process()
            where = "; ".join(self.judge.stacks()) or "no process said where it was"
            return failed("pipe_worker/no-return", f"pipe_worker closed conn but did not return within "
                          f"{RETURN_PATIENCE:g} s: {where}.", self.judge.events())
        alive = any(p["host_pid"] == self.call.host_pid and p["alive"] for p in self.judge.processes())
        if not alive:
            return self._ended_process()
        return passed(f"{count} strings came back upper-cased from a child process; after None it closed its end "
                      "(the parent saw EOF while the process lived) and returned")


def _judge_pipe_worker(judge, pipe_worker, messages: list[str], pause_before: int | None = None) -> Verdict:
    session = _PipeSession(judge, pipe_worker)
    try:
        from ..judge import STARTUP_ALLOWANCE

        if not session.started.wait(STARTUP_ALLOWANCE):
            return failed("pipe_worker/not-started", "the process for pipe_worker did not start; please tell your "
                          "instructor.")
        for k, message in enumerate(messages):
            if k == pause_before:
                judge.record("state", "blocked", "sleep: a slow parent", name="the parent", pid=0)
                time.sleep(PARENT_PAUSE)
                judge.record("state", "running", name="the parent", pid=0)
            bad = session.exchange(message)
            if bad:
                return bad
        return session.finish(len(messages))
    finally:
        session.close()


@check(timeout=25, label="pipe_worker")
def check_pipe_worker_closes_its_end(judge, pipe_worker) -> Verdict:
    """Three strings come back upper-cased; after None, pipe_worker closes conn: EOF while its process lives."""
    return _judge_pipe_worker(judge, pipe_worker, VISIBLE_PIPE_MESSAGES)


@check(timeout=30, label="pipe_worker")
def check_pipe_worker_answers_every_string(judge, pipe_worker) -> Verdict:
    """'' (falsy, not a stop), non-ASCII, 300 KB, a slow parent: every string answered; then EOF after None."""
    verdict = _judge_pipe_worker(judge, pipe_worker, HIDDEN_PIPE_MESSAGES, PAUSE_BEFORE)
    if verdict.ok:
        verdict.summary = ("'' and a 300 KB string came back upper-cased, also after the parent paused "
                           f"{PARENT_PAUSE:g} s; after None it closed its end and returned")
    return verdict


# =====================================================================================
# count_words
# =====================================================================================

STEP_PATIENCE = 1.0         # s a step waits at most for the other processes to be stuck
FIRST_PATIENCE = 2.0        # s the first tokenize calls wait for a second worker
ASLEEP_FOR = 0.015          # s a process must stay asleep in the kernel to count as blocked
ASLEEP_GRACE = 0.02         # s after the judge answered a process before its sleep can count (the answer is on its way)
SAMPLE_EVERY = 0.004        # s between two looks at the processes' states
REFRESH_EVERY = 1.0         # s between two looks for new processes (the OS's list is slow to read)
STARTING_PATIENCE = 10.0    # s the others wait at most for a process that is still starting (a loaded machine)
CALL_LIMIT = 20.0           # s count_words may take
_DICT_READS = {"get", "__getitem__", "__contains__", "setdefault", "pop"}
_DICT_WRITES = {"__setitem__", "update", "__delitem__"}


# -- in the stage: the tokenize handed to count_words, and the Manager hook ---------------------------

@register_proxy
class LockstepProxy(Proxy):
    """The judge's lockstep for count_words, as the student's processes see it."""

    kind = "count-words"

    def tokenize(self, line: str) -> list:
        return self._ask("tokenize", line)

    def step(self, kind: str, keys: list) -> None:
        self._ask("step", kind, keys)

    def note(self, what: str) -> None:
        self._ask(what, oneway=True)


class Tokenize:
    """``tokenize(line)``: the judge splits the line, knowing which process asked, in step with the other workers."""

    def __init__(self, lockstep: LockstepProxy):
        self.lockstep = lockstep

    def __call__(self, line) -> list:
        _hook_manager_calls(self.lockstep)
        return list(self.lockstep.tokenize(line if isinstance(line, str) else repr(line)))

    def __repr__(self) -> str:
        return "<function tokenize>"


_hooked = False


def _hook_manager_calls(lockstep: LockstepProxy) -> None:
    """In a worker: every Manager call reports to the judge; a dict call with a key first waits for its step.

    Installed on the first tokenize call of each process, so only the student's workers
    are instrumented; a Manager proxy's ``_callmethod`` is where every call goes through.
    """
    global _hooked
    if _hooked:
        return
    from multiprocessing import managers

    original = managers.BaseProxy._callmethod

    def _callmethod(self, methodname, args=(), kwds=None):
        keys = _dict_keys(self, methodname, args)
        if keys is None:
            lockstep.note("call")             # a call that may block (a lock, a queue): the others may go on
            try:
                return original(self, methodname, args, kwds or {})
            finally:
                lockstep.note("called")
        lockstep.step("write" if methodname in _DICT_WRITES else "read", keys)
        try:
            return original(self, methodname, args, kwds or {})
        finally:
            lockstep.note("done")

    managers.BaseProxy._callmethod = _callmethod
    _hooked = True


def _dict_keys(proxy, methodname: str, args) -> list | None:
    """The words a Manager dict call reads or writes, or None when it is not such a call."""
    if type(proxy).__name__ != "DictProxy" or not args:
        return None
    if methodname == "update":
        try:
            keys = list(args[0].keys()) if hasattr(args[0], "keys") else [k for k, _v in args[0]]
        except Exception:  # noqa: BLE001 (an iterator: let the call itself complain)
            return None
    elif methodname in _DICT_READS or methodname in _DICT_WRITES:
        keys = [args[0]]
    else:
        return None
    return [k if isinstance(k, str) else repr(k)[:40] for k in keys[:200]]


def run_count_words(count_words, lines: list, n_workers: int, lockstep: LockstepProxy) -> dict:
    """In the stage (the caller): ``count_words(lines, n_workers, tokenize)``, its result as plain data."""
    result = count_words(lines, n_workers, Tokenize(lockstep))
    try:
        counts = dict(result)
    except Exception:  # noqa: BLE001 (a dead Manager proxy, a list...)
        counts = None
    return {"type": type(result).__name__, "counts": counts}


# -- the judge's side ----------------------------------------------------------------------

class _Lockstep(JudgeObject):
    """Every tokenize call and Manager dict step waits until every other process of the stage is stuck.

    Stuck: waiting at such a step, inside a Manager call that may block (a lock, a
    queue), asleep in the kernel for ``ASLEEP_FOR`` (a ``multiprocessing.Lock``, a join),
    or gone. A dict call in flight is not stuck: it comes back; nor is a process released
    from its step until its answer is sent. The judge's own clock stamps each tokenize
    call and each read and write of a word, with the kernel's pid.
    """

    kind = "count-words"
    proxy_module = "mpcourse.checks.ipc"

    def __init__(self, judge, n_workers: int, lines: list[str]):
        super().__init__(judge, "tokenize")
        self.cv = threading.Condition()
        self.lines = lines
        self.want_first = min(2, n_workers, len(lines))
        self.stage_pid = judge.stage_peer.host_pid if judge.stage_peer else None
        self.paused: dict[int, int] = {}
        self.in_dict: dict[int, int] = {}
        self.in_call: dict[int, int] = {}
        self.answering: dict[int, int] = {}           # host pid -> its requests not answered yet
        self.touched: dict[int, float] = {}
        self.asleep_since: dict[int, float] = {}
        self.gone: set[int] = set()
        self.known: set[int] = set()
        self.first_seen: dict[int, float] = {}        # host pid -> when the OS first showed it
        self.generation = 0
        self.first_released = False
        self.first_ask: float | None = None
        self.refreshed_at = 0.0
        self.stable_since = 0.0        # the latest refresh that found no new process started then
        self.tokenizing: dict[int, str] = {}          # host pid -> process name, while in tokenize
        self.most_at_once = 0
        self.tokenized: list[tuple[int, str]] = []    # (host pid, line)
        self.ops: list[tuple[float, int, str, str]] = []      # (t, host pid, "read"/"write", word)
        self.names: dict[int, tuple[int, str]] = {}   # host pid -> (pid, name) for the picture
        self.over = False
        for target in (self._sample, self._refresh):
            threading.Thread(target=target, name="judge: lockstep", daemon=True).start()

    def stop(self) -> None:
        with self.cv:
            self.over = True
            self.cv.notify_all()

    # -- requests from the student's processes ---------------------------------------------
    def handle(self, peer, op: str, args: list):
        me = peer.host_pid
        if me is None:
            raise Refusal("RuntimeError", "the checker cannot tell which process this is")
        with self.cv:
            self.known.add(me)
            self.names[me] = (peer.pid, peer.name)
            self.touched[me] = time.monotonic()
            self.asleep_since.pop(me, None)
            if op in ("call", "called", "done"):
                counter = self.in_dict if op == "done" else self.in_call
                counter[me] = counter.get(me, 0) + (1 if op == "call" else -1)
                self.cv.notify_all()
                return None
            if op in ("tokenize", "step"):
                self.answering[me] = self.answering.get(me, 0) + 1
        if op == "tokenize" and args and isinstance(args[0], str):
            return self._tokenize(peer, args[0])
        if op == "step" and len(args) == 2 and isinstance(args[1], list):
            kind = "write" if args[0] == "write" else "read"
            now = time.perf_counter()
            with self.cv:
                self.ops += [(now, me, kind, str(k)) for k in args[1]]
            self._wait_for_the_others(peer, "dict")
            with self.cv:
                self.in_dict[me] = self.in_dict.get(me, 0) + 1
            return None
        raise Refusal("ValueError", f"tokenize cannot do {op!r}")

    def replied(self, peer) -> None:
        """The process has its answer: from now on, asleep means blocked elsewhere (a lock, a join)."""
        me = peer.host_pid
        with self.cv:
            if self.answering.get(me, 0) > 0:
                self.answering[me] -= 1
            self.touched[me] = time.monotonic()
            self.asleep_since.pop(me, None)
            self.cv.notify_all()

    def _tokenize(self, peer, line: str) -> list[str]:
        me = peer.host_pid
        self.judge.record("state", "blocked", "tokenize", peer=peer)
        with self.cv:
            self.tokenized.append((me, line))
            if me != self.stage_pid:
                self.tokenizing[me] = peer.name
                self.most_at_once = max(self.most_at_once, len(self.tokenizing))
                if self.first_ask is None:
                    self.first_ask = time.monotonic()
                    self.cv.notify_all()              # look for the other workers now
        if me != self.stage_pid:          # the caller never waits: tokenizing there is the mistake itself
            self._wait_for_the_others(peer, "tokenize")
        with self.cv:
            self.tokenizing.pop(me, None)
        self.judge.record("state", "running", "counting", peer=peer)
        return line.split()

    def _wait_for_the_others(self, peer, what: str) -> None:
        me = peer.host_pid
        start = time.monotonic()
        with self.cv:
            self.paused[me] = self.paused.get(me, 0) + 1
            generation = self.generation
            self.cv.notify_all()
            while self.generation == generation and not self.over and not self.judge.closed:
                now = time.monotonic()
                patient = now - start > STEP_PATIENCE and not self._someone_starting(now)
                if self._may_go(me, what, now) or patient and self._first_done(now):
                    self.generation += 1
                    self.paused.clear()           # all the waiting processes go on now: none is stuck any more
                    self.first_released = True
                    self.cv.notify_all()
                    break
                self.cv.wait(SAMPLE_EVERY)
            if self.generation == generation:     # the check is over: nobody released this process
                self.paused[me] -= 1
            self.touched[me] = time.monotonic()
            self.asleep_since.pop(me, None)

    def _first_done(self, now: float) -> bool:
        """The first release waits for a second tokenizing worker and for every process started by then.

        "Started by then": a look at the OS's list of processes, begun after the first
        tokenize call, that found nothing new (or FIRST_PATIENCE). So the workers start in
        step, and all the processes the student started tokenize together at first.
        """
        if self.first_released:
            return True
        if now - (self.first_ask or now) > FIRST_PATIENCE and not self._someone_starting(now):
            return True
        return len(self.tokenizing) >= self.want_first and self.stable_since > (self.first_ask or now)

    def _may_go(self, me: int, what: str, now: float) -> bool:
        if not self._first_done(now):
            return False
        return all(self._stuck(pid, now) for pid in self.known if pid != me and pid != self.stage_pid)

    def _someone_starting(self, now: float) -> bool:
        """A process of the stage that has not asked the judge anything yet, is not asleep, and is young.

        On a loaded machine a worker may take seconds to start (spawn imports everything
        again); the steps of the others wait for it, so every worker the student started
        takes part in the lockstep, up to ``STARTING_PATIENCE`` after the OS first showed it.
        """
        return any(pid not in self.touched and pid not in self.gone and pid not in self.asleep_since
                   and now - self.first_seen.get(pid, now) < STARTING_PATIENCE
                   for pid in self.known if pid != self.stage_pid)

    def _stuck(self, pid: int, now: float) -> bool:
        if self.paused.get(pid) or pid in self.gone or self.in_call.get(pid, 0) > 0:
            return True
        if self.answering.get(pid, 0) > 0 or self.in_dict.get(pid, 0) > 0:
            return False              # released, its answer on its way; or in a dict call, which comes back
        since = self.asleep_since.get(pid)
        return since is not None and now - since >= ASLEEP_FOR

    # -- what the OS shows ---------------------------------------------------------------------
    def _sample(self) -> None:
        import psutil

        procs: dict[int, psutil.Process] = {}
        while not self.over and not self.judge.closed:
            with self.cv:
                pids = [p for p in self.known if p not in self.gone and p != self.stage_pid]
                waiting = any(self.paused.values())
            if not waiting:
                time.sleep(SAMPLE_EVERY * 2)
                continue
            sampled_at = time.monotonic()
            states = {}
            for pid in pids:
                try:
                    proc = procs.get(pid) or procs.setdefault(pid, psutil.Process(pid))
                    states[pid] = proc.status()
                except psutil.Error:
                    states[pid] = psutil.STATUS_ZOMBIE
            now = time.monotonic()
            with self.cv:
                for pid, status in states.items():
                    if status in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                        self.gone.add(pid)
                    elif status == psutil.STATUS_SLEEPING and sampled_at - self.touched.get(pid, 0.0) > ASLEEP_GRACE:
                        self.asleep_since.setdefault(pid, now)
                    else:
                        self.asleep_since.pop(pid, None)
                self.cv.notify_all()
            time.sleep(SAMPLE_EVERY)

    def _refresh(self) -> None:
        """Processes the student's code started: a worker still starting is not stuck, so the others wait for it."""
        while not self.over and not self.judge.closed:
            started = time.monotonic()
            try:
                found = [p["host_pid"] for p in self.judge.processes()
                         if p["alive"] and not p["helper"] and not p["is_stage"]]
            except Exception:  # noqa: BLE001 (a process vanishing mid-scan: look again)
                found = []
            with self.cv:
                if set(found) <= self.known:
                    self.stable_since = started
                else:
                    self.stable_since = 0.0
                self.known.update(found)
                for pid in found:
                    self.first_seen.setdefault(pid, started)
                self.refreshed_at = started
                self.cv.notify_all()
                if self.first_ask and not self.first_released:
                    continue                  # the first round: look again until no new process appears
                self.cv.wait_for(lambda: self.over or bool(self.first_ask) and not self.first_released, REFRESH_EVERY)

    # -- the verdict's evidence ------------------------------------------------------------------
    def clashes(self) -> tuple[list[tuple[float, float]], str]:
        """Read-to-write windows of one worker that overlap another worker's on the same word, and that word."""
        windows: dict[str, list[tuple[int, float, float]]] = {}
        last_read: dict[tuple[int, str], float] = {}
        for t, pid, kind, word in sorted(self.ops):
            if kind == "read":
                last_read[(pid, word)] = t          # the read the write is computed from: the last one before it
            elif (pid, word) in last_read:
                windows.setdefault(word, []).append((pid, last_read.pop((pid, word)), t))
        found, word_found = [], ""
        for word, spans in windows.items():
            for i, (pa, a0, a1) in enumerate(spans):
                for pb, b0, b1 in spans[i + 1:]:
                    lo, hi = max(a0, b0), min(a1, b1)
                    if pa != pb and lo < hi:
                        found.append((lo, hi))
                        word_found = word_found or word
        return found, word_found


def _lines(n_lines: int) -> list[str]:
    """Lines where one word ("spam") dominates, so two workers always update the same count at once."""
    lines = []
    for i in range(n_lines):
        words = ["spam", "spam", "eggs", "spam", f"line{i}", "spam", "ham", "spam"]
        lines.append(" ".join(words))
    return lines


def _judge_count_words(judge, count_words, lines: list[str], n_workers: int) -> Verdict:
    from collections import Counter

    from ..judge import Course

    lockstep = _Lockstep(judge, n_workers, lines)
    call = judge.call(Course("mpcourse.checks.ipc:run_count_words"), count_words, lines, n_workers, lockstep,
                      name="count_words")
    caller = judge.stage_peer.pid if judge.stage_peer else -2
    judge.record("state", "running", "count_words(lines, n, tokenize)", name="the caller", pid=caller)
    call.wait(CALL_LIMIT)
    lockstep.stop()
    judge.record("state", "exited", "count_words returned", name="the caller", pid=caller)
    what = f"count_words(lines, {n_workers}, tokenize)"
    events = judge.events()
    if call.status == "hung":
        where = "; ".join(judge.stacks()) or "no process said where it was"
        return failed("count_words/hangs", f"{what} did not return within {CALL_LIMIT:g} s: {where}.", events)
    if call.status == "raised":
        return failed("count_words/raised", f"{what} raised {call.error()}.")
    if not call.ok:
        return failed("count_words/ended-the-check", f"{what} ended the checking process: it must return normally.")
    result = call.value if isinstance(call.value, dict) else {}
    counts = result.get("counts")
    if not isinstance(counts, dict):
        return failed("count_words/not-a-dict", f"{what} returned a {result.get('type', 'value')} that could not be "
                      "read as a dict (a Manager proxy dies with its manager): return a plain dict, e.g. "
                      "dict(shared).")
    stage = lockstep.stage_pid
    by_pid: dict[int, int] = {}
    for pid, _line in lockstep.tokenized:
        by_pid[pid] = by_pid.get(pid, 0) + 1
    if stage in by_pid:
        return failed("count_words/tokenize-in-caller", f"{what} called tokenize {by_pid[stage]} time(s) in the "
                      "calling process: hand the lines to worker processes and call tokenize only there.",
                      events, title="count_words: where tokenize ran")
    missing = [line for line in lines if line not in {t for _p, t in lockstep.tokenized}]
    if len(missing) == len(lines):
        return failed("count_words/no-tokenize", f"{what} never called tokenize: split every line with "
                      "tokenize(line), in the worker processes.")
    if missing:
        return failed("count_words/line-not-tokenized", f"{what} never called tokenize on {len(missing)} of the "
                      f"{len(lines)} lines (e.g. {missing[0][:30]!r}...): split every line with tokenize(line).")
    if n_workers >= 2 and len(by_pid) < 2:
        return failed("count_words/one-worker", f"{what} ran tokenize in only one process: spread the lines over "
                      "the workers, so that at least two of them tokenize at the same time.", events,
                      title="count_words: only one worker tokenized")
    if lockstep.most_at_once > n_workers:
        return failed("count_words/too-many-processes", f"{what} had {lockstep.most_at_once} processes in tokenize "
                      f"at the same time: use at most n_workers = {n_workers} processes.", events,
                      title="count_words: too many processes")
    want = Counter(w for line in lines for w in line.split())
    exact = set(counts) == set(want) and all(type(counts[w]) is int and counts[w] == want[w] for w in want)
    clash, word = lockstep.clashes()
    if clash:
        lost = sum(want.values()) - sum(v for v in counts.values() if type(v) is int)
        loss = f", and {lost} count(s) were lost" if lost > 0 else ""
        return failed("count_words/unlocked-update", f"in {what} two workers read the shared count of {word!r} "
                      f"before either wrote it back{loss}: `d[w] = d.get(w, 0) + 1` is two calls to the Manager, "
                      "so do the read and the write under one lock, or count in each worker and add the partial "
                      "counts up in the caller.", events, clash, title="count_words: workers updating at once")
    if not exact:
        wrong = sorted({w for w in want if counts.get(w) != want[w]} | {w for w in counts if w not in want},
                       key=lambda w: -want.get(w, 0))
        w = wrong[0]
        return failed("count_words/wrong-counts", f"{what} returned wrong counts ({w!r}: {counts.get(w, 0)!r} "
                      f"instead of {want.get(w, 0)}): count every token of every line exactly once.")
    return passed(f"{len(lines)} lines tokenized by {len(by_pid)} worker process(es) in step "
                  f"({lockstep.most_at_once} at once), never by the caller; every count exact")


@check(timeout=30, label="count_words")
def check_count_words_small(judge, count_words) -> Verdict:
    """Four lines with two workers, then two lines with one: exact counts, tokenize only in children."""
    lines = ["the quick brown fox", "jumps over the lazy dog", "", "the dog sleeps", "a fox and a dog"]
    verdict = _judge_count_words(judge, count_words, lines, 2)
    if not verdict.ok:
        return verdict
    verdict = _judge_count_words(judge, count_words, lines[:2], 1)
    if verdict.ok:
        verdict.summary = ("5 lines (one empty) with 2 workers, then 2 lines with 1 worker: exact counts, never in "
                           "the caller")
    return verdict


@check(timeout=30, label="count_words")
def check_count_words_never_loses_a_count(judge, count_words) -> Verdict:
    """Three workers in lockstep update the same word's count at once: no count may be lost."""
    return _judge_count_words(judge, count_words, _lines(6), 3)


@check(timeout=30, label="count_words")
def check_count_words_two_workers(judge, count_words) -> Verdict:
    """The same with two workers (a different split of the lines)."""
    return _judge_count_words(judge, count_words, _lines(4), 2)


# =====================================================================================
# add_all
# =====================================================================================

WORKERS = 3


class _Hung(Exception):
    """The participants did not finish: the verdict names where they are stuck."""

    def __init__(self, verdict: Verdict):
        super().__init__(verdict.message)
        self.verdict = verdict


OWN_LOCK_ASLEEP = 0.1       # s a participant blocked in the kernel (on a lock of its own) must stay so to be stuck


def _value_arena(judge, participants: int):
    """An Arena whose participants also count as stuck while the OS shows them blocked elsewhere.

    A correct add_all may serialise on a lock of its own that every caller shares (a
    cell-level ``multiprocessing.Lock``): the others then sleep on that lock in the
    kernel, and the holder's paused steps go on at once instead of waiting for them.
    """
    import psutil

    from ..shared import _RUNNING, Arena

    class ValueArena(Arena):
        def __init__(self):
            super().__init__(judge, participants)
            self.host_pids: dict[int, int] = {}
            self.asleep_since: dict[int, float] = {}

        def greet(self, peer) -> None:
            super().greet(peer)
            slot = self._slot(peer)
            if slot is not None and peer.host_pid:
                self.host_pids[slot] = peer.host_pid

        def _stuck(self, j: int) -> bool:
            if super()._stuck(j) or self.state[j] != _RUNNING or j not in self.host_pids:
                self.asleep_since.pop(j, None)
                return super()._stuck(j)
            try:
                asleep = psutil.Process(self.host_pids[j]).status() == psutil.STATUS_SLEEPING
            except psutil.Error:
                return True
            if not asleep:
                self.asleep_since.pop(j, None)
                return False
            return time.monotonic() - self.asleep_since.setdefault(j, time.monotonic()) >= OWN_LOCK_ASLEEP

    return ValueArena()


def _add(judge, add_all, start: int, number_lists: list[list[int]]):
    arena = _value_arena(judge, len(number_lists))
    total = arena.counter("total", start)
    try:
        calls = arena.run(add_all, [(total, numbers) for numbers in number_lists], name="add_all")
    except TimeoutError:
        where = "; ".join(judge.stacks()) or "no process said where it was"
        raise _Hung(failed("add_all/hangs", f"add_all did not return: {where}.", judge.events())) from None
    return arena, total, calls


def _raised(calls, what: str) -> Verdict | None:
    from ..shared import first_error

    error = first_error(calls)
    return failed("add_all/raised", f"{what} raised {error.error()}.") if error else None


@check(timeout=20, label="add_all")
def check_add_all_once(judge, add_all) -> Verdict:
    """One process adds 5, -6 and 7 to 100: 106, the lock free afterwards; an empty list adds nothing."""
    for numbers, want in (([5, -6, 7], 106), ([], 100)):
        try:
            _arena, total, calls = _add(judge, add_all, 100, [numbers])
        except _Hung as hung:
            return hung.verdict
        error = _raised(calls, f"add_all(total, {numbers})")
        if error:
            return error
        if total.value != want:
            return failed("add_all/wrong-amount", f"after add_all(total, {numbers}) with total.value == 100, "
                          f"total.value is {total.value!r}, expected {want}: add each number to total.value.")
        if not total.lock.is_free():
            return failed("add_all/lock-not-released", "add_all returned with total.get_lock() still held: release "
                          "it (use `with total.get_lock():`).")
    return passed("100 + [5, -6, 7] gave 106, an empty list changed nothing, and the lock was free afterwards")


@check(timeout=25, label="add_all")
def check_add_all_keeps_every_update(judge, add_all) -> Verdict:
    """Three processes add at the same time; each read and write waits for the others: no update may be lost."""
    from .locks import lock_was_used, lost_update_overlaps, writes_outside_lock

    numbers = [[1, 2, 3], [10, 20], [100, 200, 300]]
    try:
        _arena, total, calls = _add(judge, add_all, 0, numbers)
    except _Hung as hung:
        return hung.verdict
    error = _raised(calls, "add_all(total, numbers)")
    if error:
        return error
    events = judge.events()
    clash = lost_update_overlaps(events, "total")
    want = sum(map(sum, numbers))
    if total.value == want and not clash:
        return passed(f"{WORKERS} processes added at once, every read and write in step; total.value is {want}")
    lost = f"total.value is {total.value!r}, expected {want}"
    if not clash and not writes_outside_lock(events, "total"):
        if total.lock.refused:
            return failed("add_all/gives-up-waiting", f"{WORKERS} processes added at once and {lost}: when the lock "
                          "was busy, acquire() returned False and those numbers were skipped; wait for the lock as "
                          "long as it takes (`with total.get_lock():`).", events)
        return failed("add_all/wrong-amount", f"{WORKERS} processes added one after another and {lost}: add each "
                      "number to total.value, once.")
    if not lock_was_used(events):
        mistake, why = "add_all/no-lock", (
            f"{WORKERS} processes called add_all at once and {lost}: `total.value += n` is a read and then a write, "
            "and another process wrote in between, because add_all never took total.get_lock() (a lock made "
            "inside the function protects nothing); do it under `with total.get_lock():`.")
    elif writes_outside_lock(events, "total"):
        mistake, why = "add_all/partial-lock", (
            f"two processes read total.value before either wrote it back ({lost}): the read or the write happens "
            "outside the lock; keep both inside `with total.get_lock():`.")
    else:
        mistake, why = "add_all/partial-lock", (
            f"two processes read total.value before either wrote it back ({lost}): hold total.get_lock() around "
            "the whole read-modify-write.")
    return failed(mistake, why, events, clash, title="add_all: read-modify-write windows overlap")


@check(timeout=30, label="add_all")
def check_add_all_waits_for_the_lock(judge, add_all) -> Verdict:
    """Another process holds total.get_lock() longer than add_all's own acquire timeout: it must still add."""
    from ..shared import Arena
    from .locks import _outlast_timeouts, lock_was_used, writes_outside_lock

    arena = Arena(judge, 1)
    total = arena.counter("total", 100)
    total.lock.hold("another process")
    call = judge.call(add_all, total, [10], mode="process", name="add_all-1", slot=0)
    held = _outlast_timeouts(arena, total.lock, call)
    call.wait(10)
    if not call.finished.is_set():
        where = "; ".join(judge.stacks()) or "no process said where it was"
        return failed("add_all/hangs", f"add_all did not return within 10 s after the lock was free again: {where}.",
                      judge.events())
    error = _raised([call], "add_all(total, [10]) while another process held the lock")
    if error:
        return error
    events = judge.events()
    unguarded = writes_outside_lock(events, "total")
    if unguarded and not lock_was_used(events):
        return failed("add_all/no-lock", "add_all wrote total.value while another process held total.get_lock(), "
                      "without ever taking it (no lock, or a lock of its own, does not keep the others out): do the "
                      "read and the write under `with total.get_lock():`, the lock every process that changes total "
                      "takes.", events)
    if unguarded and not total.lock.refused:
        return failed("add_all/partial-lock", "add_all wrote total.value after releasing total.get_lock(), so "
                      "another process can write in between: keep the read and the write inside `with "
                      "total.get_lock():`.", events, [(e.t - 0.01, e.t + 0.01) for e in unguarded],
                      title="add_all wrote without the lock")
    if unguarded:
        return failed("add_all/gives-up-waiting", "while another process held total.get_lock(), add_all's "
                      "acquire(timeout=...) gave up and it wrote total.value anyway, without the lock: wait for "
                      "the lock as long as it takes (`with total.get_lock():`).", events,
                      [(e.t - 0.01, e.t + 0.01) for e in unguarded], title="add_all wrote without the lock")
    if total.value != 110:
        return failed("add_all/gives-up-waiting", "while another process held total.get_lock(), add_all gave up "
                      f"(acquire() returned False) and the number was lost (total.value stayed {total.value!r}, "
                      "expected 110): wait for the lock as long as it takes (`with total.get_lock():`).", events)
    return passed(f"it waited {held:.1f} s for total.get_lock(), held by another process, then added")
