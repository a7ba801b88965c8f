"""The checks that assignment test cells call, one module per assignment.

A test cell calls one check with the student's own objects, e.g.
``locks.check_withdraw_keeps_every_update(withdraw)``. The check's *judge* runs in a
fresh child process under a deadline (``runner.call_with_deadline``) and returns a
``Verdict``; the student's objects travel there by value. A failed verdict raises
``CheckFailed`` with one plain sentence, after showing the student's own timeline
when interleaving is the point.
"""
from __future__ import annotations

import functools
import itertools
import json
import os
import pickle
import time
from dataclasses import dataclass, field

from ..runner import ChildDied, DeadlineExceeded, call_with_deadline
from ..timeline import Event, Timeline

__all__ = ["CheckFailed", "Verdict", "check", "failed", "overlaps", "passed", "raised"]


class CheckFailed(AssertionError):
    """A check found a mistake; the message is one plain sentence that names it."""

    def _render_traceback_(self) -> list[str]:
        """IPython shows just the sentence: the grader's own frames would only distract."""
        return [f"\x1b[0;31mCheckFailed\x1b[0m: {self}"]


@dataclass
class Verdict:
    ok: bool
    message: str = ""
    events: list[Event] | None = None
    highlight: list[tuple[float, float]] = field(default_factory=list)
    title: str = ""


def passed() -> Verdict:
    return Verdict(True)


def failed(message: str, timeline: Timeline | None = None, highlight=(), title: str = "") -> Verdict:
    """A failed verdict; with a timeline, the picture of what really happened travels with it."""
    events = timeline.events() if timeline is not None else None
    return Verdict(False, message, events, list(highlight), title)


def raised(timeline: Timeline, call: str) -> Verdict | None:
    """A failed verdict if student code raised in a participant process (recorded, not printed)."""
    for e in timeline.events():
        if e.kind == "mark" and e.what == "raised":
            if e.detail.startswith("NotImplementedError"):
                return failed(f"`{call.split('(')[0]}` is not written yet (it raises NotImplementedError).")
            return failed(f"{call} raised {e.detail}.")
    return None


def overlaps(spans_a, spans_b) -> list[tuple[float, float]]:
    """Intervals where a span of ``spans_a`` overlaps a span of ``spans_b`` (pairs of (start, end))."""
    found = []
    for a0, a1 in spans_a:
        for b0, b1 in spans_b:
            lo, hi = max(a0, b0), min(a1, b1)
            if lo < hi:
                found.append((lo, hi))
    return found


def show(verdict: Verdict) -> None:
    """Display the verdict's timeline in a notebook (nothing outside IPython)."""
    if not verdict.events:
        return
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    from ..timeline import TimelinePicture, draw_timeline

    display(TimelinePicture(draw_timeline(verdict.events, title=verdict.title or "what your code did",
                                          highlight=verdict.highlight, highlight_label="the mistake")))


def check(timeout: float = 10.0, label: str | None = None):
    """Make a judge ``judge(*student_objects) -> Verdict`` into a test-cell check.

    The returned function runs the judge in a fresh child under ``timeout`` seconds,
    turns every way of failing into ``CheckFailed`` with one sentence, and shows the
    timeline of a failed verdict.

    During grading (``MPCOURSE_GRADING_DIR`` set by ``mpcourse.grading.GradingExecute``)
    the check judges nothing in the student's kernel: it only hands the student's
    objects to the grader, which judges them in a fresh interpreter of its own.
    """
    def wrap(judge):
        @functools.wraps(judge)
        def run(*student_objects):
            name = label or _name_of(student_objects)
            folder = os.environ.get(GRADING_VARIABLE)
            if folder:
                _hand_to_grader(folder, judge, name, student_objects)
                return
            verdict = judge_verdict(judge, student_objects, timeout=timeout, name=name)
            if not verdict.ok:
                show(verdict)
                raise CheckFailed(verdict.message)
        run.judge = judge
        run.timeout = timeout
        run.label = label
        return run
    return wrap


def judge_verdict(judge, student_objects, timeout: float, name: str) -> Verdict:
    """Run ``judge(*student_objects)`` in a fresh child under ``timeout``; every failure becomes a Verdict."""
    try:
        verdict = call_with_deadline(_run_judge, judge.__module__, judge.__name__, *student_objects,
                                     timeout=timeout, label=name)
    except NotImplementedError:
        return failed(f"`{name}` is not written yet (it raises NotImplementedError).")
    except (DeadlineExceeded, ChildDied, CheckFailed) as exc:
        return failed(str(exc))
    except Exception as exc:  # the student's code raised inside the judge
        return failed(f"`{name}` raised {type(exc).__name__}: {exc}; run it in your notebook to see the line "
                      "where it fails.")
    if not isinstance(verdict, Verdict):
        return failed(f"the check of `{name}` returned no verdict: please tell your instructor")
    return verdict


# ----------------------------------------------------------------------------------
# trusted grading: the kernel only hands objects over; the grader judges them

#: set by the grader for the student's kernel: a folder where check calls are handed over
GRADING_VARIABLE = "MPCOURSE_GRADING_DIR"
_calls = itertools.count(1)


def _hand_to_grader(folder: str, judge, name: str, student_objects) -> None:
    """Write the student's objects (by value) and which check was called, for the grader."""
    import cloudpickle

    try:
        payload = cloudpickle.dumps(student_objects, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise CheckFailed(f"`{name}` could not be handed to the grader ({type(exc).__name__}: {exc}): "
                          "define it with plain Python in its cell.") from None
    stem = os.path.join(folder, f"{time.time_ns():020d}-{os.getpid()}-{next(_calls):04d}")
    with open(stem + ".tmp", "wb") as f:
        f.write(payload)
    with open(stem + ".json.tmp", "w", encoding="utf-8") as f:
        json.dump({"module": judge.__module__, "check": judge.__name__, "name": name}, f)
    os.replace(stem + ".tmp", stem + ".objects")
    os.replace(stem + ".json.tmp", stem + ".json")


def _run_judge(module: str, name: str, *student_objects) -> Verdict:
    """In the child: find the judge by name (the module attribute is the wrapped check)."""
    import importlib

    judge = getattr(importlib.import_module(module), name).judge
    if not os.environ.get(JUDGE_VARIABLE):
        return judge(*student_objects)
    before = _Integrity()                     # grading: the judge's own code must stay as it is
    verdict = judge(*student_objects)
    return before.verdict_if_changed() or verdict


# ----------------------------------------------------------------------------------
# the grader's judge: a fresh interpreter started by GradingExecute for one check call

JUDGE_VARIABLE = "MPCOURSE_JUDGE"
_WATCHED_PREFIXES = ("mpcourse", "multiprocessing", "cloudpickle", "pickle", "copyreg", "importlib",
                     "functools", "builtins", "json", "os", "signal", "subprocess", "threading")


class _Integrity:
    """Identity of every function, class and module the judgement relies on, to compare later.

    Student code that runs in the judge's interpreter (while its objects are unpickled,
    or if a judge calls it in-process) might patch the checks; a verdict is only
    trusted when nothing the grader's code uses was replaced.
    """

    def __init__(self):
        import sys

        self.items = []
        for mod_name, module in list(sys.modules.items()):
            if module is None or mod_name.split(".")[0] not in _WATCHED_PREFIXES:
                continue
            self.items.append((sys.modules, mod_name, module))
            try:
                namespace = vars(module)
            except TypeError:
                continue
            for key, value in list(namespace.items()):
                if callable(value) or isinstance(value, type(sys)):
                    self.items.append((namespace, key, value))
                    self._watch_object(value, mod_name)

    def _watch_object(self, value, mod_name: str) -> None:
        code = getattr(value, "__code__", None)
        if code is not None:
            self.items.append((value, "__code__", code))
        if isinstance(value, type) and getattr(value, "__module__", "").startswith(mod_name.split(".")[0]):
            for key, member in list(vars(value).items()):
                if callable(member) or isinstance(member, (staticmethod, classmethod, property)):
                    self.items.append((value, key, member))
                    member_code = getattr(member, "__code__", None)
                    if member_code is not None:
                        self.items.append((member, "__code__", member_code))

    def changed(self) -> list[str]:
        missing = object()
        found = []
        for holder, key, value in self.items:
            if isinstance(holder, dict):
                now = holder.get(key, missing)
            else:
                now = getattr(holder, key, missing) if key == "__code__" else vars(holder).get(key, missing)
            if now is not value:
                found.append(f"{getattr(holder, '__name__', 'a module')}.{key}")
        return found

    def verdict_if_changed(self) -> Verdict | None:
        changed = self.changed()
        if not changed:
            return None
        return failed(f"your code changed the grader's own code ({', '.join(changed[:3])}) while it was being "
                      "checked, so it cannot be graded: remove the code that patches modules.")


def _judge_main() -> None:
    """Entry of a judge interpreter: ``python -c "from mpcourse.checks import _judge_main; _judge_main()"``.

    Reads one request (JSON on stdin): which check (from the trusted test cell), where the
    student's objects are, the deadline, where to write the verdict (JSON: ok, message, png).
    """
    import base64
    import importlib
    import sys

    os.environ[JUDGE_VARIABLE] = "1"
    memory = int(os.environ.get("MPCOURSE_JUDGE_MEMORY", "0") or 0)
    if memory:
        try:                                   # every POSIX system; Linux graders also set it from outside
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        except (ImportError, ValueError, OSError):
            pass
    for module in sys.argv[1:]:                # warm up while the grader waits for the kernel
        importlib.import_module(module)
    import cloudpickle  # noqa: F401

    request = json.loads(sys.stdin.readline())
    check_fn = getattr(importlib.import_module(request["module"]), request["check"])
    name = request.get("name") or check_fn.label or "your code"
    before = _Integrity()
    try:
        with open(request["objects"], "rb") as f:
            objects = pickle.loads(f.read())
        verdict = before.verdict_if_changed()
    except Exception as exc:
        objects, verdict = (), failed(f"`{name}` could not be unpickled by the grader ({type(exc).__name__}: {exc}).")
    if verdict is None:
        timeout = min(float(check_fn.timeout), float(request.get("timeout") or check_fn.timeout))
        verdict = judge_verdict(check_fn.judge, tuple(objects), timeout=timeout, name=name)
        verdict = before.verdict_if_changed() or verdict
    png = None
    if not verdict.ok and verdict.events:
        try:
            from ..timeline import TimelinePicture, draw_timeline

            png = base64.b64encode(TimelinePicture(draw_timeline(
                verdict.events, title=verdict.title or "what your code did", highlight=verdict.highlight,
                highlight_label="the mistake")).png()).decode()
        except Exception:
            png = None
    result = {"ok": bool(verdict.ok), "message": str(verdict.message), "png": png}
    with open(request["result"] + ".tmp", "w", encoding="utf-8") as f:
        json.dump(result, f)
    os.replace(request["result"] + ".tmp", request["result"])
    sys.stdout.flush()
    os._exit(0)


def _name_of(objects) -> str:
    for obj in objects:
        name = getattr(obj, "__name__", None)
        if name:
            return name
    return "your code"
