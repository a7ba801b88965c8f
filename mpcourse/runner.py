"""Run a call in a child process tree under a deadline, and never leave a process behind.

``call_with_deadline(f, *args, timeout=5)`` runs ``f(*args)`` in a fresh child (the
*harness*) and returns its result or re-raises its exception. When the deadline
passes it asks every process of the tree for its Python stacks (faulthandler on
SIGUSR1), kills the whole tree, and raises ``DeadlineExceeded`` with a message that
says where each process was stuck, in the student's own lines.

Every process of the tree is found three ways, because student code may escape one:
parent links (psutil), a Linux child subreaper (orphans stay in the tree), and an
environment token inherited by every descendant (processes that left the session).
"""
from __future__ import annotations

import linecache
import multiprocessing
import os
import re
import shutil
import signal
import sys
import sysconfig
import tempfile
import time
import traceback
import uuid
from dataclasses import dataclass

from . import _startup

TREE_VARIABLE = "MPCOURSE_TREE"
STARTUP_ALLOWANCE = 60.0      # seconds a child may take to start before its deadline counts
_HELPER_MARKERS = ("multiprocessing.resource_tracker", "multiprocessing.forkserver")


class DeadlineExceeded(TimeoutError):
    """The call did not finish in time; the message says where each process was stuck."""


class ChildDied(RuntimeError):
    """The child ended (crashed, killed itself, was killed) before it returned a result."""


class _RemoteTraceback(Exception):
    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


# ----------------------------------------------------------------------------------
# finding and killing a process tree

def become_subreaper() -> bool:
    """Linux: orphaned descendants are re-parented to us instead of init, so we can find them."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(36, 1, 0, 0, 0) == 0          # PR_SET_CHILD_SUBREAPER


def tagged_processes(token: str, variable: str = TREE_VARIABLE) -> list:
    """Processes whose environment carries our tree token (Linux and macOS; empty on Windows)."""
    import psutil

    found = []
    me = os.getpid()
    for proc in psutil.process_iter():
        if proc.pid == me:
            continue
        try:
            if proc.environ().get(variable) == token:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def tree_of(pid: int | None, token: str | None = None, variable: str = TREE_VARIABLE) -> list:
    """The process ``pid``, its descendants, and every process tagged with ``token``."""
    import psutil

    procs = {}
    try:
        if pid is not None:
            root = psutil.Process(pid)
            procs[root.pid] = root
            for child in root.children(recursive=True):
                procs[child.pid] = child
    except psutil.Error:
        pass
    if token:
        for proc in tagged_processes(token, variable):
            procs.setdefault(proc.pid, proc)
    return list(procs.values())


def kill_tree(pid: int | None = None, token: str | None = None, include_root: bool = True,
              variable: str = TREE_VARIABLE) -> int:
    """Freeze, then kill, a process tree; return how many processes were killed.

    SIGSTOP first, so that no process of a fork bomb can start another while we look.
    """
    import psutil

    me = os.getpid()
    killed: dict[int, object] = {}
    for _round in range(20):
        procs = [p for p in tree_of(pid, token, variable)
                 if p.pid != me and p.pid not in killed and (include_root or p.pid != pid)]
        if not procs:
            break
        for proc in procs:
            try:
                if hasattr(signal, "SIGSTOP"):
                    proc.send_signal(signal.SIGSTOP)
            except psutil.Error:
                pass
        for proc in procs:
            try:
                proc.kill()
            except psutil.Error:
                pass
            killed[proc.pid] = proc
    _wait_gone(list(killed.values()), timeout=3)
    return len(killed)


def _wait_gone(procs: list, timeout: float) -> None:
    """Wait until each process has ended; a zombie has ended (its parent will reap it)."""
    import psutil

    deadline = time.monotonic() + timeout
    while procs and time.monotonic() < deadline:
        alive = []
        for proc in procs:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.Error:
                pass
        procs = alive
        if procs:
            time.sleep(0.01)


# ----------------------------------------------------------------------------------
# where is each process stuck?

_STDLIB = os.path.normcase(os.path.realpath(sysconfig.get_paths()["stdlib"]))
_PACKAGE = os.path.normcase(os.path.realpath(os.path.dirname(__file__)))
_FRAME = re.compile(r'^\s*File "(?P<file>.*)", line (?P<line>\d+) in (?P<func>.*)$')


@dataclass
class Frame:
    file: str
    line: int
    func: str

    @property
    def is_student_code(self) -> bool:
        if self.file in ("<string>", "<frozen runpy>") or self.file.startswith("<frozen "):
            return False
        path = os.path.normcase(os.path.realpath(self.file)) if os.path.isabs(self.file) else self.file
        return not (path.startswith((_STDLIB, _PACKAGE)) or "site-packages" in path or "dist-packages" in path)

    def source(self) -> str:
        return linecache.getline(self.file, self.line).strip()

    def where(self) -> str:
        return f"{os.path.basename(self.file)}, line {self.line}"


def parse_stacks(text: str) -> list[list[Frame]]:
    """faulthandler output -> one list of frames (innermost first) per thread."""
    threads: list[list[Frame]] = []
    for line in text.splitlines():
        if line.startswith(("Thread ", "Current thread ")):
            threads.append([])
        elif threads and (m := _FRAME.match(line)):
            threads[-1].append(Frame(m["file"], int(m["line"]), m["func"]))
    return [t for t in threads if t]


def _main_thread(threads: list[list[Frame]]) -> list[Frame]:
    for frames in threads:                 # helper threads (queue feeders) start in threading.py
        if not frames[-1].file.endswith("threading.py"):
            return frames
    return threads[0] if threads else []


def _own_frames(frames: list[Frame]) -> list[Frame]:
    """The frames below multiprocessing's _bootstrap: above it is the start-up code (spawn's
    ``-c`` line, or under fork the stack the child inherited from its parent)."""
    for i, frame in enumerate(frames):
        if frame.func == "_bootstrap" and frame.file.endswith(os.path.join("multiprocessing", "process.py")):
            return frames[:i]
    return frames


def describe_stack(frames: list[Frame]) -> str:
    """'stuck at `lock.acquire()` in withdraw (line 3 of your code), inside acquire (synchronize.py)'."""
    frames = _own_frames(frames)
    if not frames:
        return "did not report where it was"
    student = next((f for f in frames if f.is_student_code), None)
    innermost = frames[0]
    if student is None:
        return f"is in `{innermost.func}` ({innermost.where()})"
    code = student.source()
    text = f"is stuck at `{code}`" if code else "is stuck"
    text += f" in `{student.func}` (line {student.line} of your code)"
    if innermost is not student:
        text += f", inside `{innermost.func}` ({os.path.basename(innermost.file)})"
    return text


def _process_label(pid: int, dump_dir: str, index: int) -> str:
    try:
        with open(os.path.join(dump_dir, f"{pid}.name"), encoding="utf-8") as f:
            return f"process {index} ({f.read().strip()}, pid {pid})"
    except OSError:
        return f"process {index} (pid {pid})"


def report_stacks(procs: list, dump_dir: str, settle: float = 0.5) -> list[str]:
    """Ask each process for its stacks and describe where it is; one line per process."""
    import psutil

    procs = sorted((p for p in procs if not _is_helper(p)), key=_create_time)
    if hasattr(signal, "SIGUSR1"):
        for proc in procs:
            try:
                proc.send_signal(signal.SIGUSR1)
            except psutil.Error:
                pass
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and not all(_dumped(p.pid, dump_dir) for p in procs):
            time.sleep(0.02)
    lines, quiet = [], []
    for index, proc in enumerate(procs, 1):
        try:
            with open(os.path.join(dump_dir, f"{proc.pid}.txt"), encoding="utf-8", errors="replace") as f:
                threads = parse_stacks(f.read())
        except OSError:
            threads = []
        frames = _main_thread(threads)
        label = _process_label(proc.pid, dump_dir, index)
        if frames:
            lines.append(f"{label} {describe_stack(frames)}")
        else:
            quiet.append(label)
    student_lines = [line for line in lines if "of your code" in line]
    shown = student_lines or lines
    if quiet and not shown:
        shown = [f"{len(quiet)} process(es) did not say where they were (busy in C code, or signals blocked)"]
    return shown


def _dumped(pid: int, dump_dir: str) -> bool:
    try:
        return os.path.getsize(os.path.join(dump_dir, f"{pid}.txt")) > 0
    except OSError:
        return False


def _is_helper(proc) -> bool:
    """multiprocessing's resource tracker or fork server (not a child the fork server forked)."""
    try:
        command = " ".join(proc.cmdline())
        if not any(marker in command for marker in _HELPER_MARKERS):
            return False
        parent = proc.parent()
        return parent is None or " ".join(parent.cmdline()) != command
    except Exception:
        return False


def _create_time(proc) -> float:
    try:
        return proc.create_time()
    except Exception:
        return 0.0


# ----------------------------------------------------------------------------------
# the harness

def _harness(conn, dump_dir: str, token: str, func, args, kwargs) -> None:
    os.environ[TREE_VARIABLE] = token
    become_subreaper()
    _startup.enable_stack_dumps(dump_dir)
    conn.send(("started", None))
    try:
        result = ("ok", func(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 (every failure goes back to the caller)
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        result = ("error", (exc, text))
    try:
        conn.send(result)
    except Exception as exc:  # the result or the exception does not pickle
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        conn.send(("error", (None, f"could not send the result back: {exc!r}\n{text}")))
    conn.close()
    # Leave nothing behind before we exit (multiprocessing would join leftovers forever).
    kill_tree(os.getpid(), include_root=False) if _has_children() else None


def _has_children() -> bool:
    import psutil

    return any(not _is_helper(c) for c in psutil.Process().children(recursive=True))


def call_with_deadline(func, *args, timeout: float, label: str | None = None, **kwargs):
    """Run ``func(*args, **kwargs)`` in a child process; its result, or its exception, comes back.

    On expiry, raise DeadlineExceeded naming where each process of the tree was stuck;
    in every case, no process of the tree is left alive when this returns.
    """
    label = label or getattr(func, "__name__", "the call")
    ctx = multiprocessing.get_context()
    dump_dir = tempfile.mkdtemp(prefix="mpcourse-stacks-")
    token = uuid.uuid4().hex
    receiver, sender = ctx.Pipe(duplex=False)
    harness = ctx.Process(target=_harness, args=(sender, dump_dir, token, func, args, kwargs),
                          name=f"running {label}")
    old_dir, _startup._dump_dir = _startup._dump_dir, None     # the harness sets up its own
    try:
        harness.start()
    finally:
        _startup._dump_dir = old_dir
    sender.close()
    _startup.write_process_name(dump_dir, harness.pid, "the checking process")
    try:
        # The deadline counts from the moment the child runs: starting an interpreter can
        # take seconds on a loaded machine, and that is not the student's fault.
        ready = _wait_for_reply(receiver, harness, time.monotonic() + STARTUP_ALLOWANCE)
        if ready:
            try:
                receiver.recv()                      # ("started", None)
            except (EOFError, OSError):
                pass
            ready = _wait_for_reply(receiver, harness, time.monotonic() + timeout)
        if not ready:
            procs = tree_of(harness.pid, token)
            where = report_stacks(procs, dump_dir)
            kill_tree(harness.pid, token)
            detail = "; ".join(where) if where else "no process said where it was"
            raise DeadlineExceeded(f"`{label}` did not finish in {timeout:g} s: {detail}.")
        try:
            status, payload = receiver.recv()
        except (EOFError, OSError):
            harness.join(1)
            code = harness.exitcode
            kill_tree(harness.pid, token)
            raise ChildDied(f"`{label}` ended its process before returning (exit code {code}): "
                            "did it call os._exit() or crash?") from None
        harness.join(3)
        kill_tree(harness.pid, token)
    finally:
        receiver.close()
        shutil.rmtree(dump_dir, ignore_errors=True)
        if harness.is_alive():
            kill_tree(harness.pid, token)
        harness.join(1)
    if status == "ok":
        return payload
    exc, text = payload
    if exc is None:
        raise ChildDied(text)
    exc.__cause__ = _RemoteTraceback(text)
    raise exc


def _wait_for_reply(receiver, harness, deadline: float) -> bool:
    """True once a reply (or EOF) is waiting; False when the deadline passes first."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if receiver.poll(min(left, 0.2)):
            return True
        if not harness.is_alive() and not receiver.poll(0.05):
            return True                      # died without a word: recv() will raise EOFError
