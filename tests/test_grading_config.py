"""nbgrader_config.py protects grading: timeouts by grade_id, no leaked files, feedback without hidden tests."""
from __future__ import annotations

import nbformat
from course import REPO, corpus, make_course, nbgrader, submit
from mpcourse.grading import OTHER_CELL_TIMEOUT, TEST_CELL_TIMEOUT, GradingExecute


def _cell(**nbgrader_meta):
    cell = nbformat.v4.new_code_cell("pass")
    cell.metadata["nbgrader"] = nbgrader_meta
    return cell


def test_timeouts_come_from_the_grade_id():
    grader = GradingExecute(cell_timeouts={"withdraw": 7})
    assert grader._timeout_of(_cell(grade=True, solution=False, grade_id="withdraw_hidden")) == TEST_CELL_TIMEOUT
    assert grader._timeout_of(_cell(grade=False, solution=True, grade_id="book_ticket")) == OTHER_CELL_TIMEOUT
    assert grader._timeout_of(_cell(grade=False, solution=True, grade_id="withdraw")) == 7
    assert grader._timeout_of(nbformat.v4.new_code_cell("pass")) == OTHER_CELL_TIMEOUT


def test_a_notebook_budget_counts_only_the_trusted_cells():
    """Cells a student adds to the notebook's JSON bring no time of their own."""
    grader = GradingExecute(budget_margin=5)
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell(grade=False, solution=True, grade_id="withdraw"),
                _cell(grade=True, solution=False, grade_id="withdraw_tests"),
                nbformat.v4.new_code_cell("import time; time.sleep(29)")]
    trusted = {"withdraw": ("", False), "withdraw_tests": ("", True)}
    assert grader._budget(nb, trusted) == OTHER_CELL_TIMEOUT + TEST_CELL_TIMEOUT + 5


def test_files_written_by_solution_cells_never_reach_the_release(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "03_locks").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text())
    nb = nbformat.read(REPO / "source" / "03_locks" / "03_locks.ipynb", as_version=4)
    nbformat.write(nb, course / "source" / "03_locks" / "03_locks.ipynb")
    (course / "source" / "03_locks" / "withdraw_solution.py").write_text("# written by %%writefile\n")
    nbgrader(course, "generate_assignment", "03_locks", "--force")
    assert sorted(p.name for p in (course / "release" / "03_locks").iterdir()) == ["03_locks.ipynb"]


def test_feedback_names_the_mistake_shows_the_timeline_and_hides_hidden_tests(tmp_path):
    students = [s for s in corpus("03_locks") if s.id in ("reference", "unlocked_withdraw")]
    course = make_course(tmp_path, ["03_locks"])
    submit(course, "03_locks", students)
    nbgrader(course, "autograde", "03_locks", "--force", check=False)
    nbgrader(course, "generate_feedback", "03_locks", "--force")
    html = (course / "feedback" / "unlocked_withdraw" / "03_locks" / "03_locks.html").read_text()
    assert "never took the lock it was given" in html
    assert "data:image/png;base64" in html
    assert "check_withdraw_releases_lock_on_error" not in html and "BEGIN HIDDEN TESTS" not in html
    reference = (course / "feedback" / "reference" / "03_locks" / "03_locks.html").read_text()
    assert "CheckFailed" not in reference


def test_nbgrader_starts_without_the_slow_iri_checker():
    """rfc3987 (requirements.txt) keeps jsonschema from building rfc3987-syntax's Lark grammars (2.5 s) at every
    nbgrader, nbconvert and jupyter start; without it this test fails."""
    import subprocess
    import sys

    code = "import nbgrader.apps, jsonschema, sys; print('rfc3987_syntax' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "False"
