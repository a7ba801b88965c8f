"""The stage: where a student's code runs during a check, next to the course code that drives it.

Nothing here is trusted. The judge (``mpcourse.judge``) starts the stage as a fresh
interpreter (inside a sandbox while grading), hands it the student's objects as pickle
bytes, and then asks it to call things: a student's function, or a course *driver*
that calls the student's code and reports what it saw. Every process of the stage talks
to the judge over its own connection, in JSON only (``mpcourse._wire``):

* the instrumented objects a student's code is given (a lock, an account, a ticket
  counter, a queue, a recorder) are proxies here: each step is a request that the judge
  answers when it chooses, records with its own clock and keeps the state of;
* results and exceptions go back as plain data, never pickled objects.

So whatever the student's code does to this process, the judge still decides alone.
This module is imported by every process the stage and the student's code start, so it
imports little.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import traceback
from multiprocessing.connection import Client

from . import _startup, _wire

ADDRESS_VARIABLE = "MPCOURSE_JUDGE"
#: passed to ``Client``: AF_UNIX path on POSIX, a named pipe on Windows
_links: dict[tuple[int, int], object] = {}
_links_pid = os.getpid()
_slot: int | None = None
_call: int | None = None


class JudgeGone(ConnectionError):
    """The judge closed the connection: the check is over."""


# ----------------------------------------------------------------------------------
# the connection of this process (and thread) to the judge

def _hello() -> dict:
    me = multiprocessing.current_process()
    return {"hello": "process", "pid": os.getpid(), "name": me.name, "daemon": bool(me.daemon),
            "slot": _slot, "call": _call}


def _forget_inherited_links() -> None:
    """In a forked child: close our copies of the parent's connections.

    The judge learns that a process ended when its connection closes; a copy kept open
    by a child (the student's code forks freely) would hide that end.
    """
    global _links_pid
    for conn in [*_links.values(), *_inherited]:
        try:
            conn.close()
        except OSError:
            pass
    _links.clear()
    _inherited.clear()
    _links_pid = os.getpid()


_inherited: list = []             # connections of this process that are not links (the stage's own)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_links)


def _link(address: str):
    """This thread's connection to the judge; a forked child opens its own."""
    pid = os.getpid()
    if pid != _links_pid:
        _forget_inherited_links()
    key = (pid, threading.get_ident())
    conn = _links.get(key)
    if conn is None:
        conn = Client(address)
        conn.send_bytes(_wire.dumps(_hello()))
        _links[key] = conn
    return conn


def request(address: str, op: str, obj: int | None = None, *args, oneway: bool = False):
    """Ask the judge; its answer (plain data) or the exception it names."""
    conn = _link(address)
    message = {"op": op, "obj": obj, "args": [_wire.encode(a) for a in args]}
    if oneway:
        message["oneway"] = True
    try:
        conn.send_bytes(_wire.dumps(message))
        if oneway:
            return None
        reply = _wire.loads(conn.recv_bytes(_wire.MAX_MESSAGE))
    except (EOFError, OSError):
        raise JudgeGone("the checking process has ended") from None
    if "raise" in reply:
        raise _exception(reply["raise"], reply.get("message", ""))
    return _wire.decode(reply.get("ok"))


def _exception(name: str, message: str) -> BaseException:
    import queue

    known = {"ValueError": ValueError, "RuntimeError": RuntimeError, "TimeoutError": TimeoutError,
             "ConnectionError": ConnectionError, "Empty": queue.Empty, "Full": queue.Full,
             "BrokenBarrierError": threading.BrokenBarrierError, "AssertionError": AssertionError,
             "KeyError": KeyError, "TypeError": TypeError}
    return known.get(name, RuntimeError)(message)


# ----------------------------------------------------------------------------------
# proxies of the judge's objects

class Proxy:
    """An object that lives in the judge; every method is a request."""

    kind = "object"

    def __init__(self, oid: int, address: str, name: str = ""):
        self._oid = oid
        self._address = address
        self.name = name

    def __reduce__(self):
        return type(self), (self._oid, self._address, self.name)

    def _ask(self, op: str, *args, oneway: bool = False):
        return request(self._address, op, self._oid, *args, oneway=oneway)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>" if self.name else f"<{type(self).__name__}>"


class TrackedLock(Proxy):
    """A lock the judge holds the state of: who waits for it, who has it, for how long."""

    kind = "lock"

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        if timeout is not None and timeout < 0:
            timeout = None
        return bool(self._ask("acquire", bool(block), timeout))

    def release(self) -> None:
        self._ask("release")

    def locked(self) -> bool:
        return bool(self._ask("locked"))

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


class Account(Proxy):
    """A bank balance: ``get()`` and ``set(value)``; the judge pauses each step to force the worst interleaving."""

    kind = "account"

    def get(self) -> int:
        return self._ask("get")

    def set(self, value) -> None:
        self._ask("set", value)


class TicketDB(Proxy):
    """The ticket counter: ``query()`` (read-only, slow), ``get()``, ``set(n)``, ``record(name)``."""

    kind = "tickets"

    def query(self) -> int:
        return self._ask("query")

    def get(self) -> int:
        return self._ask("get")

    def set(self, value) -> None:
        self._ask("set", value)

    def record(self, name) -> None:
        self._ask("record", str(name))


class Counter(Proxy):
    """A ``multiprocessing.Value``-like number: ``.value`` reads and writes are paused steps; ``get_lock()``."""

    kind = "counter"

    def __init__(self, oid: int, address: str, name: str = "", lock_oid: int = -1):
        super().__init__(oid, address, name)
        self._lock_oid = lock_oid

    def __reduce__(self):
        return Counter, (self._oid, self._address, self.name, self._lock_oid)

    @property
    def value(self):
        return self._ask("get")

    @value.setter
    def value(self, new) -> None:
        self._ask("set", new)

    def get_lock(self) -> TrackedLock:
        return TrackedLock(self._lock_oid, self._address, f"{self.name}.get_lock()")


class Recorder(Proxy):
    """What a course function running in the student's processes tells the judge (it adds the time and pid)."""

    kind = "recorder"

    def state(self, state: str, detail: str = "") -> None:
        self._ask("state", str(state), str(detail), oneway=True)

    def mark(self, label: str, detail: str = "") -> None:
        self._ask("mark", str(label), str(detail), oneway=True)

    def ask(self, question: str, *args):
        """A request the judge answers when it chooses (a rendezvous, a pause, the next item)."""
        return self._ask("ask", str(question), *args)


PROXIES = {cls.kind: cls for cls in (TrackedLock, Account, TicketDB, Counter, Recorder)}


def register_proxy(cls) -> type:
    """Checks modules add their own proxy kinds (e.g. a queue) with this decorator."""
    PROXIES[cls.kind] = cls
    return cls


# ----------------------------------------------------------------------------------
# running things for the judge

def describe(obj) -> dict:
    is_class = isinstance(obj, type)
    return {"type": type(obj).__name__, "name": str(getattr(obj, "__name__", ""))[:80], "callable": callable(obj),
            "class": is_class,
            "process_class": is_class and issubclass(obj, multiprocessing.process.BaseProcess)}


def _where(exc: BaseException) -> str:
    from .runner import Frame, describe_stack

    frames = [Frame(f.filename, f.lineno or 0, f.name) for f in reversed(traceback.extract_tb(exc.__traceback__))]
    student = [f for f in frames if f.is_student_code]
    if not student:
        return ""
    text = describe_stack(frames)
    return text.replace("is stuck at", "at", 1).replace("is stuck", "", 1).strip()


def outcome_of(func, args) -> dict:
    """Call ``func(*args)``; a plain-data report of its result or exception."""
    try:
        value = func(*args)
    except BaseException as exc:  # noqa: BLE001 (SystemExit from the student's code too)
        message = str(exc)[:500]
        if isinstance(exc, SystemExit):
            message = repr(exc.code)[:100]
        return {"event": "raised", "type": type(exc).__name__, "message": message, "where": _where(exc)[:300]}
    return {"event": "returned", "value": _wire.encode(value)}


def run_in_process(address: str, call: int, slot: int | None, target, args) -> None:
    """A process the stage starts: connect, run, report on our own connection, exit."""
    global _slot, _call
    _slot, _call = slot, call
    conn = _link(address)
    if slot is not None:
        request(address, "enter")               # participants start together, released by the judge
    report = outcome_of(target, args)
    report["id"] = call
    try:
        conn.send_bytes(_wire.dumps(report))
    except (OSError, ValueError):
        pass
    if report["event"] == "raised":
        sys.exit(1)


class Stage:
    """The stage's main process: loads the objects, runs calls, answers the judge's questions."""

    def __init__(self, address: str):
        self.address = address
        self.conn = _connect(address)
        _inherited.append(self.conn)
        self.send_lock = threading.Lock()
        self.objects: tuple = ()
        self.made: dict[int, object] = {}
        self.threads: dict[int, threading.Thread] = {}
        self.processes: dict[int, multiprocessing.process.BaseProcess] = {}
        self.dump_dir: str | None = None

    def send(self, message: dict) -> None:
        with self.send_lock:
            self.conn.send_bytes(_wire.dumps(message))

    def decode(self, value):
        def hook(special: dict):
            kind = special["$"]
            if kind == "student":
                return self.objects[special["i"]]
            if kind == "proxy":
                if special.get("kind") not in PROXIES:
                    _course_module(special.get("module", "mpcourse.stage"))      # registers its proxies
                cls = PROXIES[special["kind"]]
                return cls(special["id"], self.address, special.get("name", ""), *special.get("extra", ()))
            if kind == "made":
                return self.made[special["id"]]
            if kind == "course":
                return _course_object(special["path"])
            if kind == "address":
                return self.address
            raise ValueError(f"unknown special value {kind!r}")

        return _wire.decode(value, hook)

    def load(self) -> None:
        self.send({"hello": "stage", "pid": os.getpid()})
        blob = self.conn.recv_bytes(_wire.MAX_MESSAGE)
        try:
            self.objects = tuple(_wire.handover_loads(blob))
        except BaseException as exc:  # noqa: BLE001
            self.send({"event": "load-failed", "type": type(exc).__name__, "message": str(exc)[:300]})
            return
        self.send({"event": "loaded", "objects": [describe(o) for o in self.objects]})

    def serve(self) -> None:
        while True:
            try:
                message = _wire.loads(self.conn.recv_bytes(_wire.MAX_MESSAGE))
            except (EOFError, OSError):
                os._exit(0)
            command = message.get("cmd")
            try:
                if command == "call":
                    self.start_call(message)
                elif command == "stacks":
                    self.send({"event": "stacks", "id": message["id"], "lines": self.stacks()})
                elif command == "make":
                    self.make(message)
                elif command == "give-socket":
                    self.give_socket(message)
                elif command == "exit":
                    os._exit(0)
            except Exception as exc:  # noqa: BLE001 (a broken command is the judge's bug: say so, go on)
                self.send({"event": "error", "id": message.get("id"), "message": f"{type(exc).__name__}: {exc}"})

    def start_call(self, message: dict) -> None:
        call = message["id"]
        target = self.decode(message["target"])
        args = self.decode(message["args"])
        name = message.get("name") or "call"
        if message.get("mode") == "process":
            ctx = multiprocessing.get_context()
            proc = ctx.Process(target=run_in_process, args=(self.address, call, message.get("slot"), target, args),
                               name=name, daemon=bool(message.get("daemon")))
            proc.start()
            self.processes[call] = proc
            self.send({"event": "started", "id": call, "pid": proc.pid})
            threading.Thread(target=self._join, args=(call, proc), daemon=True).start()
            return

        def run():
            report = outcome_of(target, args)
            report["id"] = call
            self.send(report)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.threads[call] = thread
        thread.start()
        self.send({"event": "started", "id": call, "pid": os.getpid(), "tid": thread.native_id})

    def _join(self, call: int, proc) -> None:
        proc.join()
        self.send({"event": "exited", "id": call, "exitcode": proc.exitcode})

    def make(self, message: dict) -> None:
        maker = _course_object(message["path"])
        obj = maker(*self.decode(message["args"]))
        ids = message.get("ids") or [message["id"]]
        for oid, part in zip(ids, obj if len(ids) > 1 else [obj]):
            self.made[oid] = part
        self.send({"event": "made", "id": message["id"]})

    def give_socket(self, message: dict) -> None:
        """Pass the made socket's descriptor to the judge on a connection of its own, then forget it here."""
        sock = self.made.pop(message["made"])
        conn = Client(self.address)
        conn.send_bytes(_wire.dumps({"hello": "socket", "id": message["id"], "pid": os.getpid()}))
        if sys.platform == "win32":
            conn.send_bytes(sock.share(self.judge_pid))
        else:
            from multiprocessing import reduction

            reduction.send_handle(conn, sock.fileno(), self.judge_pid)
        conn.close()
        sock.close()

    judge_pid = 0

    def stacks(self) -> list[str]:
        """Where each running call is: its thread here, and every process below this one."""
        from .runner import Frame, describe_stack, report_stacks, tree_of

        lines = []
        frames = sys._current_frames()
        for thread in self.threads.values():
            frame = frames.get(thread.ident) if thread.is_alive() else None
            if frame is None:
                continue
            stack = [Frame(f.filename, f.lineno or 0, f.name) for f in reversed(traceback.extract_stack(frame))]
            lines.append(f"the call {describe_stack(stack)}")
        if self.dump_dir:
            procs = [p for p in tree_of(os.getpid()) if p.pid != os.getpid()]
            lines += report_stacks(procs, self.dump_dir)
        return lines


def tcp_pair(timeout: float | None = None) -> tuple:
    """Two ends of a TCP connection on this sandbox's loopback; the first gets ``timeout`` (None: blocking)."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as listener:
        near = socket.create_connection(listener.getsockname())
        far, _ = listener.accept()
    near.settimeout(timeout)
    return near, far


def tcp_listener(backlog: int = 8):
    """A listening TCP socket on this sandbox's loopback."""
    import socket

    return socket.create_server(("127.0.0.1", 0), backlog=backlog)


def udp_socket():
    """A UDP socket bound to this sandbox's loopback (the judge serves on it)."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _course_module(module: str):
    """Only the course's own modules can be named by the judge."""
    import importlib

    if not module.startswith("mpcourse.") and module != "mpcourse":
        raise ValueError(f"{module!r} is not course code")
    return importlib.import_module(module)


def _course_object(path: str):
    """``mpcourse.checks.locks:_buy``: a function or class of the course."""
    module, _, name = path.partition(":")
    obj = _course_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _connect(address: str, patience: float = 30.0):
    """Connect to the judge; a socket that exists but does not listen yet (bound a moment ago) is retried."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return Client(address)
        except (ConnectionRefusedError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def _warm_up() -> None:
    """What the judge will ask for: the checks (and what they import), cloudpickle."""
    import importlib
    import pkgutil

    import cloudpickle  # noqa: F401

    from . import checks

    for module in pkgutil.iter_modules(checks.__path__):
        importlib.import_module(f"mpcourse.checks.{module.name}")


def main() -> None:
    """Entry point: ``python -c "from mpcourse.stage import main; main()"`` with MPCOURSE_JUDGE set."""
    import tempfile

    import mpcourse  # noqa: F401 (applies COURSE_START_METHOD, cell-defined code travels by value)

    address = os.environ[ADDRESS_VARIABLE]
    if os.environ.get("MPCOURSE_STAGE_SPARE"):            # started ahead of time: get ready, then wait
        _warm_up()
        while not os.path.exists(address):
            time.sleep(0.003)
    stage = Stage(address)
    stage.judge_pid = int(os.environ.get("MPCOURSE_JUDGE_PID", "0") or 0)
    stage.dump_dir = tempfile.mkdtemp(prefix="mpcourse-stacks-")
    _startup.enable_stack_dumps(stage.dump_dir)
    stage.load()
    stage.serve()
