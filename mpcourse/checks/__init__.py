"""The checks that assignment test cells call, one module per assignment.

A test cell calls a check with the student's own objects, e.g.
``locks.check_withdraw_keeps_every_update(withdraw)``. The check hands the objects
over (by value: functions and classes defined in cells travel too) to a *judge*
(``mpcourse.judge``), which starts the student's code in a separate *stage* and
decides from what it holds and records itself. A failed verdict raises
``CheckFailed`` with one plain sentence (after the timeline of what the student's
processes really did, when interleaving is the point); a passed one prints one line
saying what was verified.

Writing a check: ``@check(timeout, label)`` on ``judge_fn(judge, *refs) -> Verdict``,
where each ref stands for one object the student handed over (the judge never loads
it); the judge's ``call``/``make``/``recorder`` and ``mpcourse.shared.Arena`` run and
watch it. Return ``passed(summary)`` or ``failed(mistake_id, sentence, events, ...)``.

During ``nbgrader autograde`` (``MPCOURSE_GRADING_DIR`` set for the kernel by
``mpcourse.grading``) a check judges nothing in the student's kernel: it only writes
the hand-over for the grader, which judges it where the student's code cannot reach.
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field

from ..timeline import Event

__all__ = ["CheckFailed", "Verdict", "check", "failed", "overlaps", "passed"]

#: set by the grader for the student's kernel: check calls hand their objects over instead of judging
GRADING_VARIABLE = "MPCOURSE_GRADING_DIR"
HANDOVER_MIME = "application/vnd.mpcourse.handover+json"


class CheckFailed(AssertionError):
    """A check found a mistake; the message is one plain sentence that names it."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows just the sentence: the grader's own frames would only distract."""
        return [f"\x1b[0;31mCheckFailed\x1b[0m: {self}"]


@dataclass
class Verdict:
    ok: bool
    message: str = ""              # a failure: one sentence that names the mistake and what to do
    mistake: str = ""              # a failure: a stable id, "<exercise>/<mistake>", for class reports
    summary: str = ""              # a pass: what was verified
    events: list[Event] | None = None
    highlight: list[tuple[float, float]] = field(default_factory=list)
    title: str = ""


def passed(summary: str = "") -> Verdict:
    """A pass; ``summary`` says what was verified ("3 processes withdrew at once; the balance is 70")."""
    return Verdict(True, summary=summary)


def failed(mistake: str, message: str, events: list[Event] | None = None, highlight=(), title: str = "") -> Verdict:
    """A failure: a stable ``mistake`` id, one sentence, and the events to draw when interleaving is the point."""
    return Verdict(False, message, mistake, events=list(events) if events else None, highlight=list(highlight),
                   title=title)


def overlaps(spans_a, spans_b) -> list[tuple[float, float]]:
    """Intervals where a span of ``spans_a`` overlaps a span of ``spans_b`` (pairs of (start, end))."""
    found = []
    for a0, a1 in spans_a:
        for b0, b1 in spans_b:
            lo, hi = max(a0, b0), min(a1, b1)
            if lo < hi:
                found.append((lo, hi))
    return found


def picture(verdict: Verdict):
    """The verdict's timeline as a ``TimelinePicture`` (None when it has no events)."""
    if not verdict.events:
        return None
    from ..timeline import TimelinePicture, draw_timeline

    return TimelinePicture(draw_timeline(verdict.events, title=verdict.title or "what your code did",
                                         highlight=verdict.highlight, highlight_label="the mistake"))


def pass_line(label: str, verdict: Verdict) -> str:
    return f"✓ {label}: {verdict.summary}" if verdict.summary else f"✓ {label}"


def _show(verdict: Verdict) -> None:
    """Display the verdict's timeline in a notebook (nothing outside IPython)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    shown = picture(verdict)
    if shown is not None:
        display(shown)


def _thread_state(task: str) -> str | None:
    """One thread's state letter (R, S, D, ...) from its ``/proc/<pid>/task/<tid>`` folder; None if unreadable."""
    try:
        with open(os.path.join(task, "stat"), encoding="ascii", errors="replace") as f:
            return f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return None


def _thread_wchan(task: str) -> str | None:
    """Where in the kernel the thread sleeps (``do_wait``, ``hrtimer_nanosleep``, ...); None if unreadable."""
    try:
        with open(os.path.join(task, "wchan"), encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


#: wait4's number per machine (os.waitpid, so every Process.join under fork and spawn, and Popen.wait)
_WAIT4 = {"x86_64": "61", "aarch64": "260"}


def _thread_waits_for(task: str) -> int | None:
    """The pid (in the thread's own pid namespace) a thread waits for in ``wait4``; None if unknown or any child."""
    try:
        with open(os.path.join(task, "syscall"), encoding="ascii", errors="replace") as f:
            fields = f.read().split()
    except OSError:
        return None
    if len(fields) < 2 or fields[0] != _WAIT4.get(os.uname().machine):
        return None
    pid = int(fields[1], 16)
    return pid if 0 < pid < 1 << 31 else None


#: per machine, the syscalls a blocked q.get() sleeps in: read (the pipe), futex (the queue's lock), poll/ppoll
_WAITS = {"x86_64": {"0": "read", "202": "futex", "7": "poll", "271": "ppoll"},
          "aarch64": {"63": "read", "98": "futex", "73": "ppoll"}}


def _waits_for_ever(task: str) -> bool | None:
    """The thread is blocked with no timeout (True: a plain ``q.get()``) or with one (False: ``get(timeout=...)``).

    Read from ``/proc/<pid>/task/<tid>/syscall``: a read of a pipe, or a futex or ppoll with
    no timeout, or a poll with -1, waits for ever; the same calls with a timeout end by
    themselves. None where the OS does not say, or for any other wait.
    """
    try:
        with open(os.path.join(task, "syscall"), encoding="ascii", errors="replace") as f:
            fields = f.read().split()
    except OSError:
        return None
    call = _WAITS.get(os.uname().machine, {}).get(fields[0] if fields else "")
    if call is None or len(fields) < 7:
        return None
    args = [int(a, 16) for a in fields[1:7]]
    if call == "read":
        return True
    if call == "poll":
        return args[2] & 0xFFFFFFFF == 0xFFFFFFFF
    return (args[3] if call == "futex" else args[2]) == 0


def _pipe_ends(pid: int) -> dict[str, list[tuple[int, int]]]:
    """{pipe inode: [(fd, access mode), ...]} of the pipes a process holds (Linux ``/proc``); {} if unreadable."""
    ends: dict[str, list[tuple[int, int]]] = {}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return ends
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if not link.startswith("pipe:"):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}", encoding="ascii") as f:
                flags = int(f.read().split("flags:")[1].split()[0], 8)
        except (OSError, IndexError, ValueError):
            continue
        ends.setdefault(link, []).append((int(fd), flags & 3))
    return ends


def _peek_pipe(pid: int, fd: int, size: int) -> bytes | None:
    """The first ``size`` bytes waiting in another process's pipe, left where they are (tee(2)); None if fewer."""
    import array
    import ctypes
    import fcntl
    import termios

    try:
        mine = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    copy_r = copy_w = -1
    try:
        waiting = array.array("i", [0])
        fcntl.ioctl(mine, termios.FIONREAD, waiting)
        if waiting[0] != size:
            return None
        copy_r, copy_w = os.pipe()
        tee = ctypes.CDLL(None, use_errno=True).tee
        tee.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_uint]
        if tee(mine, copy_w, size, 2) != size:          # SPLICE_F_NONBLOCK; tee copies, it never takes
            return None
        return os.read(copy_r, size)
    except (OSError, AttributeError):
        return None
    finally:
        for fd_ in (mine, copy_r, copy_w):
            if fd_ >= 0:
                os.close(fd_)


def _unread_exit_statuses(host_pid: int, others: list[int]) -> int:
    """Children of a fork server that ended and that ``host_pid`` never joined (Linux; 0 where it cannot tell).

    Under forkserver the fork server, not the caller, reaps a child, so it never stays a
    zombie of the caller; the server writes its exit status to the pipe the caller's
    ``Process`` holds (its sentinel), and ``join()`` or ``is_alive()`` reads it. A pipe the
    caller reads from that holds exactly one status, that no process of ``others`` (the stage's
    tree, the fork server included) can write to any more, and whose bytes are an exit code,
    is such a child.
    """
    from multiprocessing.forkserver import SIGNED_STRUCT

    mine = _pipe_ends(host_pid)
    if not mine:
        return 0
    written = {inode for pid in others for inode, ends in _pipe_ends(pid).items()
               if any(mode != os.O_RDONLY for _fd, mode in ends)}
    written |= {inode for inode, ends in mine.items() if any(mode != os.O_RDONLY for _fd, mode in ends)}
    count = 0
    for inode, ends in mine.items():
        if inode in written:
            continue
        data = _peek_pipe(host_pid, ends[0][0], SIGNED_STRUCT.size)
        if data is not None and -64 <= SIGNED_STRUCT.unpack(data)[0] <= 255:
            count += 1
    return count


def _cpu_time(task: str) -> float | None:
    """Seconds the thread has run on a CPU (``schedstat``); None if unreadable."""
    try:
        with open(os.path.join(task, "schedstat"), encoding="ascii", errors="replace") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def _thread_folder(host_pid: int, tid: int) -> str | None:
    """``/proc/<host_pid>/task/<host tid>`` of the thread whose id is ``tid`` in its own pid namespace."""
    import glob

    for path in glob.glob(f"/proc/{host_pid}/task/*/status"):
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                nspid = next((line.split()[-1] for line in f if line.startswith("NSpid:")), "")
        except OSError:
            continue
        if nspid == str(tid):
            return os.path.dirname(path)
    return None


#: system calls of a thread that sleeps on a timer, per machine, with the argument that tells (``fds@i``: a
#: descriptor count, none given; ``timeout@i``: a timeout, one given): time.sleep, select or poll of nothing,
#: a lock or event wait with a timeout (futex)
_TIMER_SLEEPS = {
    "x86_64": {"35": "", "230": "", "23": "fds@0", "270": "fds@0", "7": "fds@1", "271": "fds@1", "202": "timeout@3"},
    "aarch64": {"101": "", "115": "", "72": "fds@0", "73": "fds@1", "98": "timeout@3"},
}
#: wake-ups of the caller's threads that make a loop that polls (is_alive() and a short sleep), not one long sleep
POLLING_WAKEUPS = 5


def _syscall(task: str) -> list[str] | None:
    """The thread's ``/proc/.../syscall`` fields (number, then arguments in hex); None if unreadable."""
    try:
        with open(os.path.join(task, "syscall"), encoding="ascii", errors="replace") as f:
            return f.read().split()
    except OSError:
        return None


def _on_a_timer(fields: list[str] | None) -> bool:
    """A thread asleep until a time comes, not until something happens (a child ends, a descriptor is ready)."""
    kind = _TIMER_SLEEPS.get(os.uname().machine, {}).get(fields[0]) if fields else None
    if kind is None:
        return False
    if not kind:
        return True
    what, _, index = kind.partition("@")
    if len(fields) <= 1 + int(index):
        return False
    given = int(fields[1 + int(index)], 16) != 0
    return not given if what == "fds" else given


def _voluntary_switches(task: str) -> int:
    """How often the thread has gone to sleep of its own accord (``voluntary_ctxt_switches``); 0 if unreadable."""
    try:
        with open(os.path.join(task, "status"), encoding="ascii", errors="replace") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches")), 0)
    except (OSError, ValueError, IndexError):
        return 0


class _CallerClock:
    """Seconds the student's calling thread has had to act since the clock began: running, or asleep by choice.

    A child is held ``hold`` s so that a short ``join(timeout)`` returns while it still runs.
    By the wall clock, a caller starved of CPU for that long (a loaded machine) reads the exit
    code after the child was let go, and a wrong answer passes. On this clock, time the caller
    spends ready to run without a CPU does not count (Linux: its CPU time from ``schedstat``,
    and whether it sleeps, between two looks), so a hold lasts as long as on an idle machine.
    Where the thread cannot be read (not Linux), it is the wall clock.
    """

    def __init__(self, task: str | None):
        self.task = task                   # the thread's /proc folder (``Call.task()``); None: the wall clock
        self.at = time.monotonic()
        self.cpu = _cpu_time(self.task) if self.task else None
        self.asleep = _thread_state(self.task) in ("S", "D") if self.task else False
        self.seconds = 0.0
        self.switches = {t: _voluntary_switches(t) for t in self._threads()} if self.task else {}

    def dozing(self) -> bool:
        """The caller sleeps on a timer (``time.sleep``) instead of waiting for its children or polling them.

        A hold on the caller's clock alone is outlasted by one sleep longer than the hold, and
        the exit code read after it is the one a real child that ran longer would not have had.
        So a hold goes on while the caller's own thread sleeps on a timer, no thread it started
        waits in the kernel for something else (a join in a helper thread), and it has not woken
        up often (a loop of is_alive() and short sleeps). False where the OS cannot tell.
        """
        if self.task is None or os.uname().machine not in _TIMER_SLEEPS:
            return False
        if not _on_a_timer(_syscall(self.task)):
            return False
        threads = self._threads()
        if any(_thread_state(t) in ("S", "D") and not _on_a_timer(_syscall(t)) for t in threads if t != self.task):
            return False
        woke = sum(_voluntary_switches(task) - self.switches.get(task, 0) for task in threads)
        return woke < POLLING_WAKEUPS

    def _threads(self) -> list[str]:
        """The caller's thread folder and those of its process's threads that began after it."""
        import glob

        folder, _, tid = self.task.rpartition("/")
        try:
            mine = int(tid)
        except ValueError:
            return []
        return [task for task in glob.glob(f"{folder}/*") if task.rpartition("/")[2].isdigit()
                and int(task.rpartition("/")[2]) >= mine]

    def read(self) -> float:
        """The caller's seconds so far (look often: a stretch counts as asleep only if it began and ended so)."""
        now = time.monotonic()
        if self.task is None or self.cpu is None:
            return now - self.at + self.seconds
        cpu, state = _cpu_time(self.task), _thread_state(self.task)
        if cpu is None or state is None:           # the thread is gone: its call's end decides, not this clock
            return self.seconds
        asleep = state in ("S", "D")
        self.seconds += max(cpu - self.cpu, 0.0) + (now - self.at if asleep and self.asleep else 0.0)
        self.at, self.cpu, self.asleep = now, cpu, asleep
        return self.seconds


def check(timeout: float = 10.0, label: str | None = None):
    """Make ``judge_fn(judge, *refs) -> Verdict`` into a test-cell check ``check_x(*student_objects)``."""
    def wrap(judge_fn):
        @functools.wraps(judge_fn)
        def run(*student_objects):
            name = label or _name_of(student_objects)
            blob = handover(name, student_objects)
            if os.environ.get(GRADING_VARIABLE):
                _hand_to_grader(judge_fn, name, blob)
                return
            from ..judge import run_check

            verdict = run_check(judge_fn, blob, timeout=timeout, name=name)
            if not verdict.ok:
                _show(verdict)
                raise CheckFailed(verdict.message)
            print(pass_line(name, verdict))
        run.judge = judge_fn
        run.timeout = timeout
        run.label = label
        return run
    return wrap


def handover(name: str, student_objects: tuple) -> bytes:
    """The student's objects as bytes for the stage, or a sentence that names what cannot travel."""
    from .._wire import handover_dumps

    try:
        return handover_dumps(tuple(student_objects))
    except ValueError as exc:
        raise CheckFailed(f"`{name}` cannot be checked in a fresh process: {exc}.") from None
    except Exception as exc:  # noqa: BLE001 (cloudpickle refuses many things: say which)
        raise CheckFailed(f"`{name}` cannot be checked in a fresh process ({type(exc).__name__}: {exc}): define "
                          "what it uses inside the answer cell, with plain Python.") from None


def _hand_to_grader(judge_fn, name: str, blob: bytes) -> None:
    """Hand the objects to the grader: a display output that the grader takes out of the notebook."""
    import base64

    from IPython.display import display

    display({HANDOVER_MIME: {"module": judge_fn.__module__, "check": judge_fn.__name__, "name": name,
                             "blob": base64.b64encode(blob).decode("ascii")}}, raw=True)


def _name_of(objects) -> str:
    for obj in objects:
        name = getattr(obj, "__name__", None)
        if isinstance(name, str) and name:
            return name
    return "your code"
