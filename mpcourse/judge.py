"""The judge: runs one check, decides its verdict, and never runs a line a student wrote.

A check call becomes a ``Judge``: it starts a *stage* (``mpcourse.stage``, a fresh
interpreter; inside a sandbox while grading) and hands it the student's objects as
bytes it never loads itself. The check (trusted code of ``mpcourse.checks``) then
asks the stage to call things and gives the student's code *proxies* of objects that
live here: every lock step, balance read, ticket sale or recorded state is a request
that reaches the judge over a connection of its own, is time-stamped with the judge's
clock, attributed to the connecting process (the kernel says which: SO_PEERCRED on
Linux) and answered when the judge decides. Results come back as plain data
(``mpcourse._wire``). So the verdict is computed only from what the judge holds.

``run_check`` is the one entry point, the same in a student's notebook (stage = a child
process) and in grading (stage = a sandbox, judge = a process the sandbox cannot see).
"""
from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from multiprocessing.connection import Listener

from . import _wire
from .timeline import Event

STAGE_COMMAND = "from mpcourse.stage import main; main()"
STARTUP_ALLOWANCE = 60.0      # seconds a stage may take to start on a loaded machine (not the student's time)
MAX_EVENTS = 20_000           # events one check keeps (a student's loop of marks cannot fill the judge's memory)
MAX_PEERS = 1_000             # connections one check accepts (a fork bomb that connects gets no more)


class NotWrittenYet(Exception):
    """The student's function raises NotImplementedError."""


class StageLost(Exception):
    """The stage ended or stopped answering (the student's code killed it, or it crashed)."""


class Refusal(Exception):
    """Raised by a judge-side object: the proxy in the stage raises ``name(message)``."""

    def __init__(self, name: str, message: str = ""):
        super().__init__(message)
        self.name = name
        self.message = message


# ----------------------------------------------------------------------------------
# references to things in the stage

class StudentRef:
    """The i-th object the student handed over; the judge only knows what the stage said of it."""

    def __init__(self, index: int, info: dict):
        self.index = index
        self.info = info

    @property
    def name(self) -> str:
        return str(self.info.get("name") or "your code")

    def _wire(self) -> dict:
        return {"$": "student", "i": self.index}


class Course:
    """A course function or class named by path (``mpcourse.checks.queues:feeder``), resolved in the stage."""

    def __init__(self, path: str):
        self.path = path

    def _wire(self) -> dict:
        return {"$": "course", "path": self.path}


class Made:
    """An object the stage made for a check (a real multiprocessing queue, a socket end)."""

    def __init__(self, oid: int):
        self.oid = oid

    def _wire(self) -> dict:
        return {"$": "made", "id": self.oid}


def _judge_side(value):
    wire = getattr(value, "_wire", None)
    if wire is not None and isinstance(value, (StudentRef, Course, Made, JudgeObject)):
        return wire()
    return None


# ----------------------------------------------------------------------------------
# calls into the stage

class Call:
    """Something running in the stage for the judge: its outcome, as plain data, with judge-side times."""

    def __init__(self, judge: Judge, cid: int, name: str, mode: str, slot: int | None):
        self.judge, self.id, self.name, self.mode, self.slot = judge, cid, name, mode, slot
        self.status = "running"        # running, returned, raised, hung, lost
        self.value = None
        self.error_type = ""
        self.error_message = ""
        self.where = ""
        self.pid: int | None = None
        self.host_pid: int | None = None
        self.tid: int | None = None        # the stage's thread that runs a "thread" call (its own namespace's id)
        self._task: str | None = None
        self.exitcode: int | None = None
        self.started = time.perf_counter()
        self.ended: float | None = None
        self.exited_at: float | None = None
        self.finished = threading.Event()
        self.exited = threading.Event()

    def wait(self, timeout: float, until_exit: bool = False) -> Call:
        """Wait up to ``timeout`` s; a call still running then is "hung" (it goes on; the judge may stop it)."""
        (self.exited if until_exit and self.mode == "process" else self.finished).wait(max(timeout, 0))
        if not self.finished.is_set() and self.status == "running":
            self.status = "hung"
        if self.status == "raised" and self.error_type == "NotImplementedError":
            raise NotWrittenYet()
        return self

    @property
    def ok(self) -> bool:
        return self.status == "returned"

    def task(self) -> str | None:
        """``/proc/<pid>/task/<tid>`` of the thread that runs this call (Linux, "thread" calls); None elsewhere."""
        if self._task is None and self.tid is not None and self.judge.stage_peer is not None:
            from .checks import _thread_folder

            host = self.judge.stage_peer.host_pid
            self._task = _thread_folder(host, self.tid) if host else None
        return self._task

    @property
    def elapsed(self) -> float:
        return (self.ended or time.perf_counter()) - self.started

    def error(self) -> str:
        """'ValueError: bad value (line 3 of your code in withdraw)'."""
        text = f"{self.error_type}: {self.error_message}" if self.error_message else self.error_type
        return f"{text} ({self.where})" if self.where else text

    def _finish(self, status: str, message: dict | None = None) -> None:
        if self.finished.is_set():
            return
        message = message or {}
        self.status = status
        self.ended = time.perf_counter()
        if status == "returned":
            self.value = _wire.decode(message.get("value"))
        elif status == "raised":
            self.error_type = str(message.get("type", "Exception"))[:60]
            self.error_message = _clean(message.get("message", ""), 300)
            self.where = _clean(message.get("where", ""), 200)
        self.finished.set()


def _clean(text, limit: int) -> str:
    """Text from the stage, safe to put in a sentence: printable, one line, short."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return text if len(text) <= limit else text[:limit] + "..."


# ----------------------------------------------------------------------------------
# objects that live in the judge

class JudgeObject:
    """Base of every object whose proxy a student's code is given (see ``mpcourse.stage``)."""

    kind = "object"
    #: the module whose ``mpcourse.stage.register_proxy`` class plays this object in the stage
    proxy_module = "mpcourse.stage"

    def __init__(self, judge: Judge, name: str = ""):
        self.judge = judge
        self.name = name
        self.oid = judge._register(self)

    def _extra(self) -> list:
        return []

    def _wire(self) -> dict:
        return {"$": "proxy", "kind": self.kind, "module": self.proxy_module, "id": self.oid, "name": self.name,
                "extra": self._extra()}

    def handle(self, peer: Peer, op: str, args: list):
        raise Refusal("AttributeError", f"{self.kind} has no operation {op!r}")

    def replied(self, peer: Peer) -> None:
        """The answer to ``peer``'s request has been sent: until now the process was waiting for us."""


class Recorder(JudgeObject):
    """A course function in the student's processes reports states and marks; ``ask`` is answered by handlers."""

    kind = "recorder"

    def __init__(self, judge: Judge, name: str = "recorder"):
        super().__init__(judge, name)
        self.handlers: dict = {}

    def on(self, question: str, handler) -> None:
        """``handler(peer, *args)`` answers ``recorder.ask(question, *args)`` (it may block)."""
        self.handlers[question] = handler

    def handle(self, peer: Peer, op: str, args: list):
        if op in ("state", "mark") and len(args) == 2:
            self.judge.record(op, _clean(args[0], 60), _clean(args[1], 120), peer=peer)
            return None
        if op == "ask" and args and args[0] in self.handlers:
            return self.handlers[args[0]](peer, *args[1:])
        raise Refusal("ValueError", f"the recorder cannot do {op!r}")


class Peer:
    """One connection to the judge: a process (or a thread of one) of the stage."""

    def __init__(self, conn, host_pid: int | None):
        self.conn = conn
        self.host_pid = host_pid
        self.pid = host_pid
        self.name = "?"
        self.role = "process"
        self.daemon: bool | None = None          # multiprocessing's daemon flag, as the process said
        self.slot: int | None = None
        self.call: int | None = None
        self.closed = threading.Event()
        self.send_lock = threading.Lock()

    def send(self, message: dict) -> None:
        with self.send_lock:
            self.conn.send_bytes(_wire.dumps(message))


# ----------------------------------------------------------------------------------
# the judge

class Judge:
    """One check's judge: a listener, a stage, the objects and the events."""

    def __init__(self, blob: bytes, launcher=None, name: str = "your code"):
        self.name = name
        self.t0 = time.perf_counter()
        self.lock = threading.RLock()
        self.cv = threading.Condition(self.lock)
        self._events: list[Event] = []
        self._objects: dict[int, JudgeObject] = {}
        self._calls: dict[int, Call] = {}
        self._peers: list[Peer] = []
        self._next_id = 1
        self._replies: dict[int, dict] = {}
        self.closed = False
        self.lost = threading.Event()
        self.stage_peer: Peer | None = None
        self.loaded: list[dict] = []
        self.load_error = ""
        self.launcher = launcher or LocalLauncher()
        self.folder = tempfile.mkdtemp(prefix="mpcourse-judge-")
        self.listener = Listener(self.launcher.judge_address(self.folder))
        self._stage_ready = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="judge: accept", daemon=True)
        self._acceptor.start()
        try:
            self.stage = self.launcher.start(self.folder, self.listener.address)
            if not self._stage_ready.wait(STARTUP_ALLOWANCE) or self.stage_peer is None:
                raise StageLost(f"the checking process did not start within {STARTUP_ALLOWANCE:g} s")
            with self.stage_peer.send_lock:
                self.stage_peer.conn.send_bytes(blob)
            if not self._wait_reply(0, STARTUP_ALLOWANCE):
                raise StageLost("the checking process did not load the answer")
        except BaseException:
            self.close()
            raise

    # -- ids, objects, events ----------------------------------------------------------
    def _new_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def _register(self, obj: JudgeObject) -> int:
        oid = self._new_id()
        self._objects[oid] = obj
        return oid

    def record(self, kind: str, what: str, detail: str = "", peer: Peer | None = None, name: str | None = None,
               pid: int | None = None, at: float | None = None) -> None:
        """Add an event at the judge's clock (``kind`` is "state" or "mark")."""
        event = Event(time.perf_counter() if at is None else at,
                      pid if pid is not None else (peer.pid if peer is not None else -1),
                      name if name is not None else (peer.name if peer is not None else "the checker"),
                      kind, what, detail)
        with self.lock:
            if len(self._events) < MAX_EVENTS:
                self._events.append(event)

    def events(self) -> list[Event]:
        with self.lock:
            return sorted(self._events, key=lambda e: e.t)

    def recorder(self, name: str = "recorder") -> Recorder:
        return Recorder(self, name)

    def student(self, index: int) -> StudentRef:
        return StudentRef(index, self.loaded[index] if index < len(self.loaded) else {})

    def students(self) -> list[StudentRef]:
        return [self.student(i) for i in range(len(self.loaded))]

    # -- the stage ---------------------------------------------------------------------
    def call(self, target, *args, mode: str = "thread", name: str = "call", slot: int | None = None,
             daemon: bool = False) -> Call:
        """Run ``target(*args)`` in the stage: in a thread of its main process, or in a new process."""
        cid = self._new_id()
        call = Call(self, cid, name, mode, slot)
        with self.lock:
            self._calls[cid] = call
        self._command({"cmd": "call", "id": cid, "target": _wire.encode(target, _judge_side),
                       "args": _wire.encode(list(args), _judge_side), "mode": mode, "name": name, "slot": slot,
                       "daemon": daemon})
        return call

    def make(self, path: str, *args, parts: int = 1, timeout: float = 10.0):
        """Have the stage make an object (``mpcourse.checks.x:maker``) that later calls can be given.

        With ``parts`` > 1 the maker returns that many objects (e.g. two ends of a
        connection) and a list of references comes back.
        """
        ids = [self._new_id() for _ in range(parts)]
        self._command({"cmd": "make", "id": ids[0], "ids": ids, "path": path,
                       "args": _wire.encode(list(args), _judge_side)})
        reply = self._wait_reply(ids[0], timeout)
        if reply is None or reply.get("event") != "made":
            raise StageLost(f"the checking process could not make {path}: {reply and reply.get('message')}")
        made = [Made(oid) for oid in ids]
        return made[0] if parts == 1 else made

    def stacks(self, timeout: float = 2.0) -> list[str]:
        """Where the stage's calls and processes are now, one line each (as the stage reports it)."""
        qid = self._new_id()
        try:
            self._command({"cmd": "stacks", "id": qid})
        except StageLost:
            return []
        reply = self._wait_reply(qid, timeout)
        if not reply:
            return []
        return [_clean(line, 300) for line in reply.get("lines", [])[:8]]

    def take_socket(self, made: Made, timeout: float = 10.0) -> socket.socket:
        """The judge's end of a socket the stage made (``make``): it lives in the stage's network namespace.

        The stage passes the descriptor over a connection of its own (SCM_RIGHTS on
        POSIX, ``socket.share`` on Windows); the student's code never holds this end.
        """
        rid = self._new_id()
        self._command({"cmd": "give-socket", "id": rid, "made": made.oid})
        reply = self._wait_reply(rid, timeout)
        if reply is None or "socket" not in reply:
            raise StageLost("the checking process did not hand over a socket")
        return reply["socket"]

    def daemon_flags(self) -> dict[int, bool]:
        """pid -> multiprocessing's daemon flag, for each process that talked to the judge (as it said)."""
        with self.lock:
            return {peer.pid: peer.daemon for peer in self._peers
                    if peer.role == "process" and peer.pid is not None and peer.daemon is not None}

    def processes(self) -> list[dict]:
        """Every process of the stage now, as the operating system sees them (never as the stage says).

        Each: pid (as the stage sees it), host_pid, ppid, name, status, alive, started
        (the judge's clock), is_stage, helper (multiprocessing's resource tracker or fork
        server), child_of_stage (a zombie of the stage's was never waited for by it: not
        joined). Children of ``subprocess`` and processes in new sessions count too.
        """
        import psutil

        stage_host = self.stage_peer.host_pid if self.stage_peer else None
        found = []
        boot = time.time() - time.perf_counter()
        for proc in self.stage.processes() if hasattr(self.stage, "processes") else []:
            try:
                with proc.oneshot():
                    info = {"host_pid": proc.pid, "pid": _namespace_pid(proc.pid) or proc.pid,
                            "ppid": _namespace_pid(proc.ppid()) or proc.ppid(), "name": proc.name(),
                            "status": proc.status(), "started": proc.create_time() - boot,
                            "cmdline": _command_line(proc), "host_ppid": proc.ppid()}
            except psutil.Error:
                continue
            info["alive"] = info["status"] != psutil.STATUS_ZOMBIE
            info["is_stage"] = proc.pid == stage_host
            info["child_of_stage"] = info["host_ppid"] == stage_host
            found.append(info)
        command_of = {info["host_pid"]: info["cmdline"] for info in found}
        for info in found:
            command, parent_command = info["cmdline"], _command_of(info.pop("host_ppid"), command_of)
            # a fork server's children run the student's code under its command line: they are no helpers
            info["helper"] = any(marker in command for marker in ("multiprocessing.resource_tracker", "bwrap")) or (
                "multiprocessing.forkserver" in command and parent_command is not None and parent_command != command)
        return found

    def _command(self, message: dict) -> None:
        if self.stage_peer is None or self.lost.is_set():
            raise StageLost("the checking process has ended")
        try:
            self.stage_peer.send(message)
        except (OSError, ValueError):
            raise StageLost("the checking process has ended") from None

    def _wait_reply(self, rid: int, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        with self.cv:
            while rid not in self._replies:
                left = deadline - time.monotonic()
                if left <= 0 or self.lost.is_set():
                    return None
                self.cv.wait(min(left, 0.1))
            return self._replies.pop(rid)

    # -- connections -------------------------------------------------------------------
    def _accept(self) -> None:
        while not self.closed:
            try:
                conn = self.listener.accept()
            except (OSError, EOFError):
                if self.closed:
                    return
                continue
            with self.lock:
                crowded = len(self._peers) >= MAX_PEERS
            if crowded:
                conn.close()
                continue
            peer = Peer(conn, _peer_pid(conn))
            with self.lock:
                self._peers.append(peer)
            threading.Thread(target=self._serve, args=(peer,), name="judge: peer", daemon=True).start()

    def _serve(self, peer: Peer) -> None:
        try:
            hello = _wire.loads(peer.conn.recv_bytes(4096))
            self._greet(peer, hello)
            while True:
                message = _wire.loads(peer.conn.recv_bytes(_wire.MAX_MESSAGE))
                if "op" in message:
                    self._answer(peer, message)
                elif "event" in message:
                    self._on_event(peer, message)
        except (EOFError, OSError, ValueError, KeyError, TypeError):
            pass
        finally:
            peer.closed.set()
            self._gone(peer)

    def _greet(self, peer: Peer, hello: dict) -> None:
        role = hello.get("hello")
        if peer.pid is None:                 # no kernel-given identity (Windows, macOS): the process says
            peer.pid = hello.get("pid") if isinstance(hello.get("pid"), int) else None
        peer.pid = _namespace_pid(peer.host_pid) or peer.pid
        if role == "socket" and isinstance(hello.get("id"), int):
            peer.role = "socket"
            received = _receive_socket(peer.conn, self.stage_peer.host_pid if self.stage_peer else None)
            with self.cv:
                self._replies[hello["id"]] = {"socket": received} if received is not None else {}
                self.cv.notify_all()
            raise EOFError                      # this connection's only job is done
        if role == "stage" and self.stage_peer is None:
            peer.role, peer.name = "stage", "the checking process"
            self.stage_peer = peer
            self._stage_ready.set()
            return
        peer.name = _clean(hello.get("name") or "process", 40)
        peer.daemon = hello.get("daemon") if isinstance(hello.get("daemon"), bool) else None
        call = hello.get("call")
        with self.lock:
            if isinstance(call, int) and call in self._calls and self._calls[call].mode == "process":
                owner = self._calls[call]
                if owner.host_pid is None or owner.host_pid == peer.host_pid:
                    peer.call = call
                    peer.slot = owner.slot
                    peer.name = owner.name
                    owner.host_pid = peer.host_pid
        for arena in self._arenas():
            arena.greet(peer)

    def _answer(self, peer: Peer, message: dict) -> None:
        obj = self._objects.get(message.get("obj"))
        args = message.get("args") or []
        oneway = bool(message.get("oneway"))
        try:
            if obj is None:
                if message.get("op") == "enter":
                    value = self._enter(peer)
                else:
                    raise Refusal("ValueError", "no such object")
            else:
                value = obj.handle(peer, str(message.get("op")), [_wire.decode(a) for a in args])
            reply = {"ok": _wire.encode(value)}
        except Refusal as refusal:
            reply = {"raise": refusal.name, "message": refusal.message}
        if not oneway:
            try:
                peer.send(reply)
            finally:
                if obj is not None:
                    obj.replied(peer)

    def _enter(self, peer: Peer):
        for arena in self._arenas():
            arena.enter(peer)
        return None

    def _arenas(self) -> list:
        from .shared import Arena

        return [o for o in list(self._objects.values()) if isinstance(o, Arena)]

    def _on_event(self, peer: Peer, message: dict) -> None:
        event = message.get("event")
        if peer is self.stage_peer and event in ("loaded", "load-failed"):
            if event == "loaded":
                self.loaded = [o for o in message.get("objects", []) if isinstance(o, dict)]
            else:
                self.load_error = _clean(f"{message.get('type')}: {message.get('message')}", 300)
            with self.cv:
                self._replies[0] = message
                self.cv.notify_all()
            return
        rid = message.get("id")
        if peer is self.stage_peer and event in ("made", "stacks", "error") and isinstance(rid, int):
            if event == "error" and rid in self._calls:
                self._calls[rid]._finish("lost")
            with self.cv:
                self._replies[rid] = message
                self.cv.notify_all()
            return
        call = self._calls.get(rid) if isinstance(rid, int) else None
        if call is None:
            return
        from_stage = peer is self.stage_peer
        if event == "started" and from_stage:
            call.pid = message.get("pid") if isinstance(message.get("pid"), int) else None
            call.tid = message.get("tid") if isinstance(message.get("tid"), int) else None
        elif event in ("returned", "raised") and (from_stage and call.mode == "thread" or peer.call == call.id):
            call._finish(event, message)
        elif event == "exited" and from_stage and call.mode == "process":
            code = message.get("exitcode")
            call.exitcode = code if isinstance(code, int) else None
            call.exited_at = time.perf_counter()
            threading.Thread(target=self._exited, args=(call,), daemon=True).start()
        with self.cv:
            self.cv.notify_all()

    def _exited(self, call: Call) -> None:
        """A process call's process ended: its report (sent on its own connection) may still be on the way."""
        call.finished.wait(3.0)
        call._finish("lost")                 # no report came: the process died before it could say
        call.exited.set()
        with self.cv:
            self.cv.notify_all()

    def _gone(self, peer: Peer) -> None:
        call = self._calls.get(peer.call) if peer.call is not None else None
        if call is not None and call.mode == "process":
            call._finish("lost")             # its connection closed without a report (read in order before EOF)
        if peer is self.stage_peer:
            self.lost.set()
            for call in list(self._calls.values()):
                call._finish("lost")
                call.exited.set()
        for arena in self._arenas():
            arena.gone(peer)
        with self.cv:
            self.cv.notify_all()

    # -- the end ------------------------------------------------------------------------
    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        stage = getattr(self, "stage", None)
        if stage is not None:
            stage.kill()
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            peers = list(self._peers)
        for peer in peers:
            try:
                peer.conn.close()
            except OSError:
                pass
        for call in list(self._calls.values()):
            call._finish("lost")
            call.exited.set()
        with self.cv:
            self.cv.notify_all()
        shutil.rmtree(self.folder, ignore_errors=True)


def _receive_socket(conn, pid: int | None) -> socket.socket | None:
    try:
        if sys.platform == "win32":
            return socket.fromshare(conn.recv_bytes(65536))
        from multiprocessing import reduction

        return socket.socket(fileno=reduction.recv_handle(conn))
    except (OSError, EOFError, ValueError):
        return None


def _peer_pid(conn) -> int | None:
    """The connecting process's pid as the kernel saw it (Linux), or None."""
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        sock = socket.socket(fileno=os.dup(conn.fileno()))
    except (OSError, AttributeError):
        return None
    try:
        pid, _uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                              struct.calcsize("3i")))
        return pid or None
    except OSError:
        return None
    finally:
        sock.close()


def _command_line(proc) -> str:
    """What the process runs; "" for a zombie, whose command line is gone (it still counts: nobody waited for it)."""
    import psutil

    try:
        return " ".join(proc.cmdline())[:200]
    except psutil.ZombieProcess:
        return ""


def _command_of(host_pid: int, known: dict[int, str]) -> str | None:
    """A process's command line, from this scan or read afresh; None when it cannot be read.

    A fork server's child is told from the fork server by its parent's command line: a
    parent missing from one scan (a read that failed under load) must not turn every
    worker it forked into a "helper" for that moment.
    """
    import psutil

    if host_pid in known:
        return known[host_pid]
    try:
        return " ".join(psutil.Process(host_pid).cmdline())[:200]
    except psutil.Error:
        return None


def _namespace_pid(host_pid: int | None) -> int | None:
    """The pid the process itself sees (inside a sandbox's pid namespace), from /proc (Linux)."""
    if host_pid is None:
        return None
    try:
        with open(f"/proc/{host_pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return host_pid


# ----------------------------------------------------------------------------------
# where the stage runs: a child process here (a notebook), or a sandbox (grading)

class LocalStage:
    """The stage as a plain child process; ``kill()`` ends it and everything it started."""

    def __init__(self, proc: subprocess.Popen, token: str):
        self.proc, self.token = proc, token

    @property
    def pid(self) -> int:
        return self.proc.pid

    def processes(self) -> list:
        from .runner import TREE_VARIABLE, tree_of

        return tree_of(self.proc.pid, self.token, variable=TREE_VARIABLE)

    def kill(self) -> None:
        from .runner import TREE_VARIABLE, kill_tree

        kill_tree(self.proc.pid, self.token, variable=TREE_VARIABLE)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


class LocalLauncher:
    """Start the stage as a child process of this one (a student's notebook, the course's own tests)."""

    def judge_address(self, folder: str):
        if sys.platform == "win32":
            return rf"\\.\pipe\mpcourse-{uuid.uuid4().hex}"
        return os.path.join(folder, "j")

    def start(self, folder: str, address) -> LocalStage:
        import multiprocessing

        from .runner import TREE_VARIABLE

        env = dict(os.environ)
        token = uuid.uuid4().hex
        env[TREE_VARIABLE] = token
        env["MPCOURSE_JUDGE"] = address
        env["MPCOURSE_JUDGE_PID"] = str(os.getpid())
        env["COURSE_START_METHOD"] = multiprocessing.get_start_method()
        env.pop("MPCOURSE_GRADING_DIR", None)
        proc = subprocess.Popen([sys.executable, "-c", STAGE_COMMAND], env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
        return LocalStage(proc, token)


# ----------------------------------------------------------------------------------
# one check, start to end

def run_check(judge_fn, blob: bytes, timeout: float, name: str, launcher=None):
    """Judge ``blob`` (the student's objects, handed over) with ``judge_fn(judge, *refs) -> Verdict``."""
    from .checks import Verdict, failed

    try:
        judge = Judge(blob, launcher=launcher, name=name)
    except StageLost as exc:
        return failed("grader/stage", f"the grader could not start a checking process for `{name}` ({exc}); "
                      "please tell your instructor.")
    try:
        if judge.load_error:
            return failed("answer/not-loadable", f"`{name}` could not be loaded in a fresh process "
                          f"({judge.load_error}): define everything it uses in the answer cell.")
        box: dict = {}

        def run() -> None:
            from .shared import LockNeverReleased, ParticipantsTooSlow

            try:
                box["verdict"] = judge_fn(judge, *judge.students())
            except NotWrittenYet:
                box["verdict"] = failed("answer/not-written", f"`{name}` is not written yet (it raises "
                                        "NotImplementedError).")
            except LockNeverReleased as exc:
                box["verdict"] = failed(f"{name}/lock-not-released", f"{exc}.", judge.events(),
                                        title="a lock is never released")
            except ParticipantsTooSlow:
                where = judge.stacks()
                detail = ": " + "; ".join(where) if where else ""
                box["verdict"] = failed(f"{name}/hangs", f"`{name}` did not return in time{detail}.",
                                        judge.events())
            except StageLost:
                box["verdict"] = failed("answer/ended-the-check", f"`{name}` ended the checking process (did "
                                        "it call os._exit(), kill its parent, or crash?): it must return "
                                        "normally.", judge.events())
            except BaseException as exc:  # noqa: BLE001 (a bug in a check must still give a verdict)
                import traceback

                box["verdict"] = failed("grader/bug", f"the check of `{name}` failed inside the grader "
                                        f"({type(exc).__name__}: {exc}); please tell your instructor.")
                box["trace"] = traceback.format_exc()

        thread = threading.Thread(target=run, name="judge: check", daemon=True)
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            where = judge.stacks()
            detail = "; ".join(where) if where else "no process said where it was"
            return failed("answer/deadline", f"`{name}` did not finish in {timeout:g} s: {detail}.", judge.events())
        verdict = box.get("verdict")
        if not isinstance(verdict, Verdict):
            return failed("grader/bug", f"the check of `{name}` returned no verdict; please tell your instructor.")
        return verdict
    finally:
        judge.close()


# ----------------------------------------------------------------------------------
# the grader's judges: a pre-imported server that forks one judge per check

SERVER_COMMAND = "from mpcourse.judge import serve; serve()"


def verdict_message(verdict, label: str) -> dict:
    """A verdict as the plain data the grader writes into the notebook (the picture as base64 PNG)."""
    import base64

    png = None
    if not verdict.ok and verdict.events:
        try:
            from .checks import picture

            drawn = picture(verdict)
            png = base64.b64encode(drawn.png()).decode("ascii") if drawn is not None else None
        except Exception:  # noqa: BLE001 (a verdict without its picture is still a verdict)
            png = None
    return {"ok": bool(verdict.ok), "message": str(verdict.message), "mistake": str(verdict.mistake),
            "summary": str(verdict.summary), "label": label, "png": png}


def _judge_request(request: dict, config: dict, spare=None) -> dict:
    """In a forked judge: run one check on the handed-over bytes, in a fresh sandbox (a warm spare if any)."""
    import base64
    import importlib

    from .sandbox import SandboxLauncher

    check_fn = getattr(importlib.import_module(request["module"]), request["check"])
    name = str(request.get("name") or check_fn.label or "your code")[:80]
    blob = base64.b64decode(request["blob"])
    timeout = min(float(check_fn.timeout), float(request.get("timeout") or check_fn.timeout))
    launcher = LocalLauncher() if config.get("unsafe") else SandboxLauncher(_limits(config), spare=spare)
    verdict = run_check(check_fn.judge, blob, timeout=timeout, name=name, launcher=launcher)
    return verdict_message(verdict, check_fn.label or name)


def _limits(config: dict):
    from .sandbox import Limits

    return Limits(**config["limits"]) if config.get("limits") else Limits()


def serve() -> None:
    """``python -I -c "from mpcourse.judge import serve; serve()"``: JSON lines in, verdicts out.

    Single-threaded, so that forking is safe; every check module and matplotlib are
    imported once here, so a judge costs a fork, not an interpreter start; and a few
    stage sandboxes wait ready (Python started, the checks imported) for the next judges.
    ``MPCOURSE_JUDGE_CONFIG`` (JSON): the sandboxes' ``limits``, ``unsafe`` (no sandbox),
    ``spares`` (how many stages to keep warm).
    """
    import importlib
    import json
    import pkgutil
    import select

    from . import checks

    for module in pkgutil.iter_modules(checks.__path__):
        importlib.import_module(f"mpcourse.checks.{module.name}")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: F401 (warm: every failed verdict draws)

    import psutil  # noqa: F401

    from . import sandbox, shared  # noqa: F401

    config = json.loads(os.environ.get("MPCOURSE_JUDGE_CONFIG", "{}") or "{}")
    spares = _Spares(config)
    spares.fill()
    out = sys.stdout.buffer
    stdin = sys.stdin.buffer
    pending: dict[int, tuple[str, int, bytearray, float, object]] = {}    # read fd -> (id, pid, data, deadline, spare)
    buffer = b""
    open_input = True
    out.write(b'{"ready": true}\n')
    out.flush()
    try:
        while open_input or pending:
            readable, _, _ = select.select(([stdin] if open_input else []) + list(pending), [], [], 0.5)
            for source in readable:
                if source is stdin:
                    chunk = os.read(stdin.fileno(), 1 << 20)
                    if not chunk:
                        open_input = False
                        continue
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip():
                            _fork_judge(json.loads(line), pending, config, spares.take())
                    spares.fill()
                    continue
                rid, pid, data, deadline, spare = pending[source]
                chunk = os.read(source, 1 << 20)
                if chunk:
                    data.extend(chunk)
                    continue
                del pending[source]
                os.close(source)
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
                if spare is not None:
                    spare.kill()                   # the judge killed it already, unless the judge was killed
                _answer(out, rid, bytes(data))
                spares.fill()
            now = time.monotonic()
            for _rid, pid, _data, deadline, _spare in list(pending.values()):
                if now > deadline:                     # the judge itself is stuck: it never should be
                    try:
                        os.kill(pid, 9)
                    except OSError:
                        pass
            spares.reap()
    finally:
        spares.close()


class _Spares:
    """Stage sandboxes started ahead of time; each waits for its judge's socket to appear."""

    def __init__(self, config: dict):
        self.wanted = 0 if config.get("unsafe") else int(config.get("spares", 2))
        self.config = config
        self.ready: list = []
        self.used: list = []

    def fill(self) -> None:
        from .sandbox import SandboxLauncher, SandboxUnavailable

        while len(self.ready) < self.wanted:
            try:
                self.ready.append(SandboxLauncher(_limits(self.config)).start_spare())
            except (SandboxUnavailable, OSError):
                self.wanted = 0
                return

    def take(self):
        if not self.ready:
            return None
        spare = self.ready.pop(0)
        self.used.append(spare)
        return spare

    def reap(self) -> None:
        """Collect the spares whose sandbox has ended (they are this process's children)."""
        for spare in list(self.used):
            if spare.sandbox.proc is None or spare.sandbox.proc.poll() is not None:
                self.used.remove(spare)

    def close(self) -> None:
        """Kill every spare at once: each kill waits for its sandbox to end, and the grader waits for this."""
        from concurrent.futures import ThreadPoolExecutor

        spares = self.ready + self.used
        if spares:
            with ThreadPoolExecutor(len(spares)) as pool:
                list(pool.map(lambda spare: spare.kill(), spares))


def _fork_judge(request: dict, pending: dict, config: dict, spare) -> None:
    import json

    read_fd, write_fd = os.pipe()
    deadline = time.monotonic() + float(request.get("timeout") or 60) + STARTUP_ALLOWANCE + 30
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            message = _judge_request(request, config, spare)
        except BaseException as exc:  # noqa: BLE001
            message = {"ok": False, "message": f"the grader could not judge this check ({type(exc).__name__}: "
                       f"{exc}); please tell your instructor.", "mistake": "grader/bug", "summary": "",
                       "png": None}
        data = json.dumps(message).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
        os._exit(0)
    os.close(write_fd)
    pending[read_fd] = (str(request.get("id")), pid, bytearray(), deadline, spare)


def _answer(out, rid: str, data: bytes) -> None:
    import json

    try:
        message = json.loads(data)
    except ValueError:
        message = {"ok": False, "message": "the grader's checking process ended without a verdict; please tell "
                   "your instructor.", "mistake": "grader/crash", "summary": "", "png": None}
    message["id"] = rid
    out.write(json.dumps(message).encode() + b"\n")
    out.flush()
