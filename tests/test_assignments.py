"""Every assignment, end to end through nbgrader's own commands, under each start method.

For each assignment: generate the student version, submit every file of its corpus
(tests/corpus/<assignment>/), autograde, and compare each exercise's points with the
verdict the corpus file expects. A submission that makes an exercise's central mistake
(``CENTRAL_MISTAKES``) must fail that exercise's visible test, the one the student runs
before submitting. Afterwards no process of the grading may be alive, and no temporary
folder of the course package may be left.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import nbformat
import pytest
from course import (
    REPO, answer_ids, cell_scores, corpus, make_course, mismatches, nbgrader, submit, surviving_processes,
)

from mpcourse.report import summarize

ASSIGNMENTS = sorted(p.name for p in (REPO / "source").iterdir() if p.is_dir())


START_METHODS = ("spawn", "fork", "forkserver")

#: per exercise (the mistake ids' prefix), the mistakes its visible test must show the student:
#: the race, the deadlock, the lost item, the short read... (hidden tests add other parameters
#: and the rarer cases)
CENTRAL_MISTAKES = {
    "run_all": {"not-concurrent", "run-not-start"},
    "square_worker": {"work-in-init", "no-super-init"},
    "start_background": {"daemon-after-start", "joins-daemon", "not-daemon"},
    "run_with_deadline": {"exitcode-none"},
    "withdraw": {"no-lock", "partial-lock"},
    "book_ticket": {"no-lock", "partial-lock"},
    "transfer": {"no-lock", "lock-order"},
    "pipe_worker": {"left-open"},
    "count_words": {"unlocked-update"},
    "add_all": {"no-lock", "partial-lock"},
    "drain": {"while-not-empty"},
    "offer": {"blocking-put"},
    "collect": {"join-before-get"},
    "pipeline": {"one-sentinel", "sentinel-too-early", "stops-when-empty"},
    "joinable": {"no-task-done", "left-running"},
    "framing": {"short-read", "little-endian"},
    "serve": {"one-at-a-time"},
    "udp_request": {"no-timeout", "no-retry"},
}


def corpus_runs() -> list[tuple[str, str]]:
    """(assignment, start method) pairs: in CI every assignment under spawn and under fork.

    spawn is what Windows and macOS students get, fork what Linux kernels used by default up
    to Python 3.13; forkserver (Linux's default from 3.14) is covered by the direct check tests
    (test_checks_*.py, the start methods taking turns), by the lecture notebooks, and outside CI
    by ``MPCOURSE_CORPUS_EVERY_START_METHOD=1`` (adds forkserver here) and by
    ``scripts/determinism.py``, which grades the corpus again and again under all three.
    """
    methods = START_METHODS if os.environ.get("MPCOURSE_CORPUS_EVERY_START_METHOD") == "1" else ("spawn", "fork")
    heaviest_first = sorted(ASSIGNMENTS, key=lambda a: -CORPUS_MINUTES.get(a, 1))
    return [(a, m) for a in heaviest_first for m in methods]


#: rough minutes each corpus takes through nbgrader on an idle machine (measured in CI): the heaviest
#: run first
CORPUS_MINUTES = {"06_producer_consumer": 4.0, "02_daemons": 2.9, "05_queues": 2.1, "03_locks": 2.0,
                  "07_sockets": 1.6, "01_processes": 1.4, "04_ipc": 1.1}


@pytest.mark.slow
@pytest.mark.parametrize(("assignment", "start_method"), corpus_runs())
def test_corpus_is_graded_as_expected(tmp_path, assignment, start_method):
    students = corpus(assignment)
    assert any(s.id == "reference" for s in students), f"tests/corpus/{assignment}/reference.py is missing"
    assert len(students) > 1, f"tests/corpus/{assignment} has no wrong submission"
    course = make_course(tmp_path, [assignment])
    submit(course, assignment, students)
    run = nbgrader(course, "autograde", assignment, "--force", start_method=start_method, check=False)
    assert mismatches(course, assignment, students) == [], run.stderr[-3000:]
    assert central_mistakes_not_shown(course, assignment, students) == []
    write_visible_share(course, assignment, students)
    # the class report counts exactly the corpus's intended mistakes, each student once per exercise
    intended = Counter(m for s in students for m in s.mistakes)
    reported = Counter()
    for exercise in summarize(course, assignment, f"sqlite:///{course / 'gradebook.db'}"):
        reported.update(exercise.counts())
    assert reported == intended
    assert surviving_processes(run.marker) == []
    assert run.leftover_temp_folders == []
    assert run.leftover_sandboxes == []


def test_every_central_mistake_is_in_the_corpus():
    """So the corpus test really shows each of them failing its visible test."""
    made = {m for a in ASSIGNMENTS for s in corpus(a) for m in s.mistakes}
    central = {f"{exercise}/{slug}" for exercise, slugs in CENTRAL_MISTAKES.items() for slug in slugs}
    assert sorted(central - made) == []


def central_mistakes_not_shown(course: Path, assignment: str, students) -> list[str]:
    """Students whose central mistake of an exercise passed its visible test (seen only after the deadline)."""
    missed = []
    for student in students:
        graded = cell_scores(course, assignment, student.id)
        for mistake in sorted(student.mistakes):
            exercise, _, slug = mistake.partition("/")
            if slug not in CENTRAL_MISTAKES.get(exercise, ()):
                continue
            answer = min((a for a in answer_ids(course / "source" / assignment / f"{assignment}.ipynb")
                          if a == exercise or a.startswith(exercise + "_")), key=len)
            score, most = graded[f"{answer}_tests"]
            if score >= most:
                missed.append(f"{student.id}: {mistake} passed the visible test {answer}_tests ({student.why})")
    return missed


def write_visible_share(course: Path, assignment: str, students) -> None:
    """artifacts/visible-tests/<assignment>.txt: of the wrong (student, exercise) pairs, those a visible test shows.

    Not a target in itself (hidden tests rightly keep the rarer cases), but the figure an
    instructor asks for: how often a student sees their mistake before submitting.
    """
    answers = answer_ids(course / "source" / assignment / f"{assignment}.ipynb")
    lines, shown, wrong = [], 0, 0
    for student in students:
        graded = cell_scores(course, assignment, student.id)
        for answer in answers:
            cells = {gid: got for gid, got in graded.items() if gid.startswith(answer + "_")}
            if all(score >= most for score, most in cells.values()):
                continue
            wrong += 1
            score, most = cells[f"{answer}_tests"]
            shown += score < most
            lines.append(f"{'visible' if score < most else 'hidden only':12} {student.id}: {answer}")
    folder = REPO / "artifacts" / "visible-tests"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{assignment}.txt").write_text(
        f"{assignment}: {shown} of {wrong} wrong (student, exercise) pairs fail a visible test\n"
        + "\n".join(sorted(lines)) + "\n", encoding="utf-8")


def _normalized(path: Path) -> dict:
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb.get("metadata", {}).pop("language_info", None)      # depends on the Python that generated it
    return nb


def test_release_is_what_generate_assignment_makes(tmp_path):
    course = make_course(tmp_path, ASSIGNMENTS)
    for assignment in ASSIGNMENTS:
        fresh = sorted(p.name for p in (course / "release" / assignment).iterdir())
        committed = sorted(p.name for p in (REPO / "release" / assignment).iterdir())
        assert committed == fresh, f"release/{assignment} holds other files than a fresh generate_assignment"
        for name in fresh:
            if name.endswith(".ipynb"):
                assert _normalized(REPO / "release" / assignment / name) == \
                    _normalized(course / "release" / assignment / name), \
                    f"release/{assignment}/{name} is stale: run `nbgrader generate_assignment {assignment} --force`"


def test_release_hides_solutions_and_hidden_tests():
    for path in (REPO / "release").rglob("*.ipynb"):
        text = path.read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS"):
            assert marker not in text, f"{path} leaks a {marker} region"


def test_unsolved_release_fails_fast_with_not_implemented(tmp_path):
    """A student who runs the released notebook untouched gets quick failures, never a hang."""
    from nbclient import NotebookClient

    for assignment in ASSIGNMENTS:
        for path in (REPO / "release" / assignment).glob("*.ipynb"):
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3",
                           resources={"metadata": {"path": str(tmp_path)}}).execute()
            tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
                     and any(line.strip() and not line.lstrip().startswith("#") for line in c.source.splitlines())]
            for cell in tests:
                errors = [o for o in cell.outputs if o.output_type == "error"]
                assert errors, f"{assignment}: {cell.metadata.nbgrader.grade_id} passed with no answer"
                assert any("NotImplementedError" in "".join(e.traceback) or "not written yet" in e.evalue
                           for e in errors), f"{assignment}: {cell.metadata.nbgrader.grade_id}: {errors[0].evalue}"
