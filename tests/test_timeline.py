"""Timelines: recording from several processes, the one state model, row order, and
labels that never collide, on synthetic worst cases and on every picture the lecture
notebooks store (each PNG carries the events it was drawn from, so it is redrawn here)."""
from __future__ import annotations

import base64
import inspect
import multiprocessing
from pathlib import Path

import nbformat
import pytest
from children import matplotlib_loaded, record_work
from mpcourse import Timeline
from mpcourse.timeline import (
    MAIN_ROW, Event, TimelinePicture, canonical_state, draw_timeline, drawing_in_png, layout_labels,
    overlapping_labels, row_order,
)

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_three_processes_make_three_rows(tmp_path):
    timeline = Timeline()
    procs = [multiprocessing.Process(target=record_work, args=(timeline, n), name=f"worker-{n}") for n in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    events = timeline.events()
    assert {e.name for e in events} == {"worker-0", "worker-1", "worker-2"}
    assert [e.what for e in events if e.name == "worker-1"] == ["running", "holding", "get", "running", "exited"]
    picture = timeline.plot(title="three workers")
    path = tmp_path / "timeline.png"
    picture.save(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = [t.get_text() for t in picture.figure.axes[0].get_yticklabels()]
    assert labels == ["worker-0", "worker-1", "worker-2"]
    assert overlapping_labels(picture.figure) == []
    timeline.remove()


def test_spawned_children_do_not_import_matplotlib():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.apply(matplotlib_loaded, (Timeline(),)) is False


@pytest.mark.parametrize("recorded, drawn", [
    (("running", "serving"), ("running", "")),
    (("holding", "lock A"), ("holding", "lock A")),
    (("blocked", "get"), ("blocked", "get")),
    (("waiting", "lock B"), ("blocked", "lock B")),
    (("waiting", "account"), ("blocked", "lock account")),
    (("sleeping", ""), ("blocked", "sleep")),
    (("querying", "query"), ("blocked", "query")),
    (("returned", ""), ("exited", "returned")),
    (("dying after SIGTERM", ""), ("running", "SIGTERM handler")),
    (("exited", "exit code 0"), ("exited", "exit code 0")),
    (("something new", ""), ("blocked", "something new")),
])
def test_every_recorded_state_is_drawn_in_the_one_model(recorded, drawn):
    assert canonical_state(*recorded) == drawn


def event(t, pid, name, what="running", kind="state", detail=""):
    return Event(t, pid, name, kind, what, detail)


def test_rows_main_process_first_then_by_start_with_numbered_siblings_together():
    events = [event(0.0, 7, "run_pipeline"), event(0.1, 12, "worker-10"), event(0.2, 3, "worker-2"),
              event(0.3, 1, "MainProcess"), event(0.4, 9, "cook-B"), event(0.5, 8, "cook-A"),
              event(0.6, 5, "late")]
    assert [name for _pid, name in row_order(events)] == [
        MAIN_ROW, "run_pipeline", "worker-2", "worker-10", "cook-A", "cook-B", "late"]


def test_layout_keeps_every_placed_label_apart_and_drops_what_finds_no_room():
    crowd = [(0, 100.0, 60.0, f"label {i}") for i in range(10)] + [(1, 5.0, 40.0, "edge")]
    placed = layout_labels(crowd, axis_width=500.0, lanes=3)
    assert len([p for p in placed if p.row == 0]) == 3          # one per lane, the rest dropped
    edge = next(p for p in placed if p.text == "edge")
    assert edge.left == 0.0                                      # kept inside the axis
    for a in placed:
        for b in placed:
            if a is not b and a.row == b.row and a.lane == b.lane:
                assert a.left + a.width <= b.left or b.left + b.width <= a.left


def test_overlap_finder_finds_colliding_text_and_text_off_the_figure():
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4, 2))
    figure.text(0.5, 0.5, "first label")
    figure.text(0.52, 0.5, "second label")
    figure.text(0.1, 0.1, "alone")
    figure.text(0.95, 0.9, "cut off at the right edge")
    found = overlapping_labels(figure)
    assert ("first label", "second label") in found
    assert ("cut off at the right edge", "<figure edge>") in found
    assert not any("alone" in pair for pair in found)


def crowded_events() -> list[Event]:
    """A worst case: many marks at one instant, sub-millisecond spans, long names, a mark per ms."""
    events = [event(0.0, 1, "MainProcess", "blocked", detail="join")]
    for i in range(4):
        pid = 100 + i
        events += [event(0.001 * i, pid, f"a process with a long name {i}"),
                   event(0.0102 + i * 1e-5, pid, f"a process with a long name {i}", "waiting", detail="lock"),
                   event(0.0103 + i * 1e-5, pid, f"a process with a long name {i}", "holding", detail="lock")]
        events += [event(0.002 + 0.0001 * k, pid, f"a process with a long name {i}", f"mark {k}", "mark")
                   for k in range(12)]
        events += [event(0.02 + 0.001 * k, pid, f"a process with a long name {i}", "chunk", "mark") for k in range(50)]
        events.append(event(0.09, pid, f"a process with a long name {i}", "exited"))
    return events


def test_a_crowded_timeline_has_no_overlapping_labels():
    figure = draw_timeline(crowded_events(), title="a very long title " * 8, highlight=[(0.01, 0.02)])
    assert overlapping_labels(figure) == []


def test_a_timeline_png_carries_what_redraws_it():
    picture = TimelinePicture(draw_timeline(crowded_events(), title="crowded", highlight=[(0.01, 0.02)]))
    drawing = drawing_in_png(picture.png())
    assert drawing["title"] == "crowded" and drawing["highlight"] == [(0.01, 0.02)]
    assert drawing["events"] == sorted(crowded_events(), key=lambda e: e.t)
    assert drawing_in_png(picture.png(embed_events=False)) is None
    data, size = picture._repr_png_()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and size["width"] == 900      # shown at half its pixels: sharp


def stored_timelines() -> list[tuple[str, bytes]]:
    """(notebook and cell, PNG) of every picture a lecture notebook stores with a timeline's text form."""
    found = []
    for path in NOTEBOOKS:
        for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
            for output in cell.get("outputs", []):
                data = output.get("data", {})
                if data.get("text/plain") == "<timeline picture>":
                    found.append((f"{path.stem} c{index}", base64.b64decode(data["image/png"])))
    return found


@pytest.mark.parametrize("where, png", stored_timelines(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_lecture_timeline_redraws_without_overlapping_labels(where, png):
    drawing = drawing_in_png(png)
    assert drawing is not None, f"{where}: the stored timeline carries no events; re-execute the notebook"
    assert overlapping_labels(draw_timeline(**drawing)) == [], where


def test_the_lectures_store_timelines():
    assert len(stored_timelines()) >= 14


CHECK_TEST_MODULES = ("test_checks_locks", "test_checks_processes_daemons", "test_checks_ipc_queues",
                      "test_checks_pc_sockets")


def _failing(module, case) -> tuple | None:
    """(check, mistake, a function giving the answer) of a case of ``module.CASES`` that must fail, else None.

    The four modules lay their cases out differently (see each module's ``CASES`` comment).
    """
    if module.__name__.endswith("processes_daemons"):
        assignment, source, gid, name, check_fn, phrase, mistake, _method = case
        return (check_fn, mistake or phrase, lambda: module._answer(assignment, source, gid, name)) \
            if phrase or mistake else None
    if module.__name__.endswith("pc_sockets"):
        assignment, student, gid, names, check_fn, failure = case
        return (check_fn, failure[1], lambda: module._answer(assignment, student, gid, names)) if failure else None
    student, gid, check_fn, failure = case
    if failure is None:
        return None
    return check_fn, failure[1] if isinstance(failure, tuple) else failure, lambda: module._answer(student, gid)


def failing_cases() -> list:
    """One failing case per (check, mistake) of every direct check test module: each picture the grader draws."""
    import importlib

    found, seen = [], set()
    for name in CHECK_TEST_MODULES:
        module = importlib.import_module(name)
        for case in module.CASES:
            failing = _failing(module, case)
            if failing and (failing[0], failing[1]) not in seen:
                seen.add((failing[0], failing[1]))
                found.append(failing)
    return found


def test_every_assignment_has_feedback_pictures_checked():
    """Each direct check test module draws its failures' pictures (``expect_verdict``): together, every assignment."""
    import student_code

    assert "assert_feedback_picture_is_clean(verdict)" in inspect.getsource(student_code.expect_verdict)
    modules = {check_fn.__module__ for check_fn, _mistake, _answer in failing_cases()}
    assert modules == {f"mpcourse.checks.{m}" for m in ("processes", "daemons", "locks", "ipc", "queues",
                                                          "producer_consumer", "sockets")}


@pytest.mark.parametrize("events", [
    [],
    [event(1.0, 1, "MainProcess")],
    [event(1.0, 1, "a", "x", "mark"), event(1.0, 2, "b", "costs $5 and $6", "mark")],   # no mathtext
    [event(1.0, 3, "w", "weird", detail="d"), event(1.5, 3, "w", "exited")],
], ids=["no events", "one state", "marks only", "an unknown state"])
def test_sparse_timelines_draw_without_warnings_or_overlaps(events, recwarn):
    picture = TimelinePicture(draw_timeline(events, title="sparse"))
    assert picture.png()[:8] == b"\x89PNG\r\n\x1a\n"
    assert overlapping_labels(picture.figure) == []
    assert not [w for w in recwarn if "matplotlib" in str(w.filename)]
