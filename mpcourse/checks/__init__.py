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
    """
    def wrap(judge):
        @functools.wraps(judge)
        def run(*student_objects):
            name = label or _name_of(student_objects)
            try:
                verdict = call_with_deadline(_run_judge, judge.__module__, judge.__name__, *student_objects,
                                             timeout=timeout, label=name)
            except NotImplementedError:
                raise CheckFailed(f"`{name}` is not written yet (it raises NotImplementedError).") from None
            except DeadlineExceeded as exc:
                raise CheckFailed(str(exc)) from None
            except ChildDied as exc:
                raise CheckFailed(str(exc)) from None
            except CheckFailed as exc:
                raise CheckFailed(str(exc)) from None
            except Exception as exc:  # the student's code raised inside the judge
                raise CheckFailed(f"`{name}` raised {type(exc).__name__}: {exc}") from None
            if not isinstance(verdict, Verdict):
                raise CheckFailed(f"the check of `{name}` returned no verdict: please tell your instructor")
            if not verdict.ok:
                show(verdict)
                raise CheckFailed(verdict.message)
        run.judge = judge
        return run
    return wrap


def _run_judge(module: str, name: str, *student_objects) -> Verdict:
    """In the child: find the judge by name (the module attribute is the wrapped check)."""
    import importlib

    return getattr(importlib.import_module(module), name).judge(*student_objects)


def _name_of(objects) -> str:
    for obj in objects:
        name = getattr(obj, "__name__", None)
        if name:
            return name
    return "your code"
