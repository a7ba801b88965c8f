"""The class report: scores from a real gradebook, mistakes from the grader's notes in autograded notebooks.

The notes (``display_data`` outputs with ``metadata.mpcourse``) the grader wrote in a real
grading run are replaced here by notes the test controls (the corpus test checks the
grader's own): a mistake two students made, one made by one student twice (counted once)
and without a picture, and notes the report must ignore (in a passed cell, about another
exercise, with a bad id).
"""
from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
import time

import matplotlib.image
import nbformat
import pytest
from course import FAST_GRADING, corpus, environment, make_course, nbgrader, scores, submit

from mpcourse import Timeline
from mpcourse.report import summarize, write_report

ASSIGNMENT = "01_processes"
STUDENTS = ("run_instead_of_start", "start_join_in_loop")


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """A course where nbgrader autograded two real submissions (both fail run_all, pass square_worker).

    Graded once per test run, even when pytest-xdist spreads these tests over several processes:
    the first to take the lock grades, in the folder they all share.
    """
    import fcntl

    base = tmp_path_factory.getbasetemp()                  # xdist: <this run>/popen-gw<N>; else <this run>
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "report-course"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        course = shared / "course"
        if not (shared / "graded").exists():
            shutil.rmtree(course, ignore_errors=True)
            with pytest.MonkeyPatch.context() as patch:
                for key, value in FAST_GRADING.items():
                    patch.setenv(key, value)
                course = make_course(shared, [ASSIGNMENT])
                submit(course, ASSIGNMENT, [s for s in corpus(ASSIGNMENT) if s.id in STUDENTS])
                nbgrader(course, "autograde", ASSIGNMENT, "--force", timeout=900)
            (shared / "graded").touch()
    return course


@pytest.fixture
def course(graded, tmp_path):
    """A copy of the graded course, free to change."""
    return shutil.copytree(graded, tmp_path / "course")


def timeline_png(title: str) -> bytes:
    timeline = Timeline()
    try:
        timeline.state("running")
        time.sleep(0.01)
        timeline.state("exited")
        return timeline.plot(title=title).png()
    finally:
        timeline.remove()


def note(exercise: str, mistake: str, sentence: str, png: bytes | None = None, check: str = "check_run_all"):
    data = {"text/plain": sentence}
    if png is not None:
        data["image/png"] = base64.b64encode(png).decode()
    return nbformat.v4.new_output("display_data", data=data, metadata={"mpcourse": {
        "exercise": exercise, "check": check, "mistake": mistake, "sentence": sentence}})


def failed_cells(course, student: str, exercise: str) -> list[str]:
    """The exercise's test cells that lost points, per the gradebook: where the grader puts its notes."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        notebook = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
        return sorted(g.name for g in notebook.grades if g.name.startswith(exercise + "_") and g.score < g.max_score)


def add_notes(course, student: str, notes_by_cell: dict[str, list]) -> None:
    """The student's notes are these, and only these (once per student)."""
    path = course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":        # the grader's own notes out: this test decides what was found
            cell.outputs = [o for o in cell.outputs if "mpcourse" not in o.get("metadata", {})]
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in notes_by_cell:
            cell.outputs.extend(notes_by_cell.pop(gid))
    assert not notes_by_cell, f"no such cells: {sorted(notes_by_cell)}"
    nbformat.write(nb, path)


def test_the_report_counts_each_mistake_in_students_with_one_example(course):
    for student in STUDENTS:                     # the grading run the notes are added to
        got = scores(course, ASSIGNMENT, student)
        assert got["run_all"][0] < got["run_all"][1] and got["square_worker"][0] == got["square_worker"][1], got
    one_at_a_time, run_not_start = timeline_png("one at a time"), timeline_png("run() not start()")
    first, *others = failed_cells(course, "run_instead_of_start", "run_all")
    assert others, "run() instead of start() fails several run_all tests"
    add_notes(course, "run_instead_of_start", {                # its first mistake counts, once: run-not-start
        first: [note("run_all", "run_all/run-not-start", "run() ran the target in the caller."),
                note("run_all", "run_all/one-at-a-time", "The processes ran one after another.", one_at_a_time)],
        others[0]: [note("run_all", "run_all/run-not-start", "run() ran the target in the caller, again."),
                    note("square_worker", "square_worker/forged", "about another exercise"),
                    note("run_all", "bad id with spaces", "ignored")]})
    add_notes(course, "start_join_in_loop", {
        failed_cells(course, "start_join_in_loop", "run_all")[0]: [note("run_all", "run_all/one-at-a-time",
                               "Each process was joined before the next one <started> & so nothing overlapped.",
                               run_not_start)],
        # a passed cell: whatever it printed is no mistake
        "square_worker_tests": [note("square_worker", "square_worker/forged", "a kernel's own output")]})

    html_path, png_path = write_report(course, ASSIGNMENT)

    exercises = {e.name: e for e in summarize(course, ASSIGNMENT, f"sqlite:///{course / 'gradebook.db'}")}
    assert list(exercises) == ["run_all", "square_worker"]                  # notebook order
    for student in STUDENTS:                                                # scores: the gradebook's
        for name, exercise in exercises.items():
            assert exercise.scores[student] == scores(course, ASSIGNMENT, student)[name]
    assert exercises["run_all"].counts() == {"run_all/one-at-a-time": 1, "run_all/run-not-start": 1}
    assert exercises["square_worker"].counts() == {}
    example = dict((m, e) for m, _n, e in exercises["run_all"].mistakes)["run_all/one-at-a-time"]
    assert example.png == run_not_start and example.student == "start_join_in_loop"

    page = html_path.read_text(encoding="utf-8")
    assert page.index("run_all/one-at-a-time") < page.index("run_all/run-not-start")      # ties: by id
    assert page.count("<td>1 (50%)</td>") == 2
    assert "nothing overlapped." in page and "run() ran the target in the caller." in page
    assert "The processes ran one after another." not in page          # a second mistake of one student
    assert "forged" not in page and "bad id" not in page
    pictures = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pictures) == 2                    # the overview, and one example: run-not-start has none
    assert base64.b64decode(pictures[1]) == run_not_start
    assert base64.b64decode(pictures[0]) == png_path.read_bytes()
    assert not re.search(r"(src|href)=\"(?!data:)|<link|<script", page)     # self-contained, nothing to run
    assert "overflow-wrap: anywhere" in page     # long sentences wrap

    picture = matplotlib.image.imread(png_path)
    assert picture.shape[1] >= 1000 and picture.shape[0] >= 400


def test_a_student_cannot_write_html_into_the_report(course):
    add_notes(course, "run_instead_of_start", {failed_cells(course, "run_instead_of_start", "run_all")[0]: [
        note("run_all", "run_all/no-start", '<script>alert("x")</script><img src=x onerror=alert(1)>')]})
    page = write_report(course, ASSIGNMENT)[0].read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page and "<img src=x" not in page


def test_mpcourse_report_writes_the_page_or_says_why_not(course, tmp_path):
    result = subprocess.run([sys.executable, "-m", "mpcourse.report", ASSIGNMENT, "--course", str(course)],
                            capture_output=True, text=True, env=environment(), timeout=300)
    assert result.returncode == 0, result.stderr
    assert (course / "reports" / f"{ASSIGNMENT}.html").is_file()
    assert (course / "reports" / f"{ASSIGNMENT}.png").read_bytes().startswith(b"\x89PNG")

    ungraded = tmp_path / "ungraded"
    ungraded.mkdir()
    shutil.copy(course / "nbgrader_config.py", ungraded)
    shutil.copytree(course / "source", ungraded / "source")
    nbgrader(ungraded, "generate_assignment", ASSIGNMENT, "--force")
    for args, message in (([ASSIGNMENT], "no graded submission of '01_processes'"),
                          (["no_such_assignment"], "the gradebook has no assignment 'no_such_assignment'")):
        result = subprocess.run([sys.executable, "-m", "mpcourse.report", *args, "--course", str(ungraded)],
                                capture_output=True, text=True, env=environment(), timeout=300)
        assert result.returncode == 1 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_broken_notebook_is_skipped_with_a_line_not_a_traceback(course, capsys):
    broken = course / "autograded" / "start_join_in_loop" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    broken.write_text("{ not json")
    exercises = {e.name: e for e in summarize(course, ASSIGNMENT, f"sqlite:///{course / 'gradebook.db'}")}
    assert "skipping" in capsys.readouterr().err
    assert set(exercises["run_all"].scores) == set(STUDENTS)                # its scores still count
