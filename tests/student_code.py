"""Load answers written as text (the corpus format) into functions, as a notebook cell would."""
from __future__ import annotations

import re
from pathlib import Path

SECTION = re.compile(r"^# %% (\S+)\s*$", re.M)

#: a caller starved of CPU (a loaded machine), made on purpose: for ``seconds`` of wall time the
#: calling thread is ready to run but hardly gets a CPU (a CPU hog beside it on one CPU, the thread
#: in SCHED_IDLE, whose weight is a third of nice 19's)
STARVE = '''
import os, subprocess, sys, time

def _starved(seconds):
    cpu = min(os.sched_getaffinity(0))
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        os.sched_setaffinity(hog.pid, {cpu})
        os.sched_setaffinity(0, {cpu})
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
    finally:
        hog.kill()
        hog.wait()
'''


def sections(path: Path) -> dict[str, str]:
    """{grade_id: source} of one corpus file."""
    text = path.read_text(encoding="utf-8")
    parts = SECTION.split(text)
    return {parts[i]: parts[i + 1].strip() + "\n" for i in range(1, len(parts), 2)}


def define(source: str) -> dict:
    """Run cell source in a fresh namespace named __main__, as a notebook kernel does."""
    namespace = {"__name__": "__main__"}
    exec(compile(source, "<student cell>", "exec"), namespace)
    return namespace


def expect_verdict(check_fn, answer, phrase: str | None, start_method: str, mistake: str | None = None) -> None:
    """Judge ``answer`` (one object, or a tuple of them) with ``check_fn`` under ``start_method``.

    It must pass when ``phrase`` is None; else fail with a sentence containing ``phrase``
    (and, when given, the stable ``mistake`` id).
    """
    import multiprocessing

    from mpcourse.checks import handover
    from mpcourse.judge import run_check

    objects = answer if isinstance(answer, tuple) else (answer,)
    name = check_fn.label or getattr(objects[0], "__name__", "answer")
    old = multiprocessing.get_start_method()
    multiprocessing.set_start_method(start_method, force=True)
    try:
        verdict = run_check(check_fn.judge, handover(name, objects), timeout=check_fn.timeout, name=name)
    finally:
        multiprocessing.set_start_method(old, force=True)
    if phrase is None:
        assert verdict.ok, f"{start_method}: {verdict.mistake}: {verdict.message}"
        assert verdict.summary, "a passing check says what it verified"
    else:
        assert not verdict.ok, f"{start_method}: passed ({verdict.summary}), expected a failure saying {phrase!r}"
        assert phrase in verdict.message, f"{start_method}: {verdict.message}"
        if mistake is not None:
            assert verdict.mistake == mistake, f"{start_method}: mistake {verdict.mistake!r}, expected {mistake!r}"
        assert_feedback_picture_is_clean(verdict)
    assert multiprocessing.active_children() == []


def assert_feedback_picture_is_clean(verdict) -> None:
    """The failure's picture, as feedback draws it, follows the lectures' layout rules and carries its events.

    Every failing direct check test draws its picture here, so each (check, mistake) the
    grader can report has its picture checked without judging the answer a second time.
    """
    import matplotlib.pyplot as plt
    from mpcourse.timeline import TimelinePicture, draw_timeline, drawing_in_png, overlapping_labels

    if not verdict.events:
        return                               # a one-process mistake: the sentence only, no picture
    figure = draw_timeline(verdict.events, title=verdict.title or "what your code did",
                           highlight=verdict.highlight, highlight_label="the mistake")
    try:
        assert overlapping_labels(figure) == [], f"{verdict.mistake}: labels overlap in its picture"
        drawing = drawing_in_png(TimelinePicture(figure).png())
        assert drawing["events"] == sorted(verdict.events, key=lambda e: e.t), f"{verdict.mistake}: events lost"
    finally:
        plt.close(figure)
