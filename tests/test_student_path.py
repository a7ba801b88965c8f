"""The student path without a browser: the start page's links, nbgrader's exchange end to end
with nbgrader's own commands, the no-exchange copy, and a .gitignore that covers it all.

(tests/test_browser.py walks the same path in JupyterLab.)
"""
from __future__ import annotations

import getpass
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from course import CORPUS, REPO, environment, make_course, nbgrader, read_student

RELEASED = sorted(p.name for p in (REPO / "release").iterdir() if p.is_dir())
LINK = re.compile(r"\]\(([^)\s]+)\)")


def start_page_links() -> list[str]:
    nb = nbformat.read(REPO / "START.ipynb", as_version=4)
    return [link for cell in nb.cells if cell.cell_type == "markdown" for link in LINK.findall(cell.source)]


def course_setup():
    """scripts/course_setup.py, the README's set-up step, as a module."""
    spec = importlib.util.spec_from_file_location("course_setup", REPO / "scripts" / "course_setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_start_page_links_every_lecture_and_every_assignment_copy():
    links = start_page_links()
    lectures = sorted(f"notebooks/{p.name}" for p in (REPO / "notebooks").glob("*.ipynb"))
    assert sorted(link for link in links if link.startswith("notebooks/")) == lectures
    folder = course_setup().working_folder().relative_to(REPO).as_posix()
    assert folder == "py-multiprocessing", "START.ipynb and .gitignore name this folder: update them too"
    copies = sorted(f"{folder}/{name}/{name}.ipynb" for name in RELEASED)
    assert sorted(link for link in links if link.startswith(f"{folder}/")) == copies
    assert not [link for link in links if link.startswith("release/")], "students must not open release/"


def _answer(notebook: Path, sections: dict[str, str]) -> None:
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and gid in sections:
            cell.source = sections[gid]
    nbformat.write(nb, notebook)


def _setup(course: Path, *args: str) -> subprocess.CompletedProcess:
    (course / "scripts").mkdir(exist_ok=True)
    shutil.copy(REPO / "scripts" / "course_setup.py", course / "scripts")
    shutil.copy(REPO / "requirements.txt", course)
    done = subprocess.run([sys.executable, "scripts/course_setup.py", *args], cwd=course, env=environment(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the packages of requirements.txt are installed" in done.stdout      # this venv: pip is not run
    return done


@pytest.mark.slow
def test_exchange_round_trip_with_nbgrader_commands_leaves_git_clean(tmp_path, monkeypatch):
    """Release, fetch, submit, collect, autograde, feedback there and back, export (Validate: test_browser.py)."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))     # nbgrader's submit cache
    course = make_course(tmp_path, ["03_locks"])
    shutil.copy(REPO / ".gitignore", course)
    committed = {p.relative_to(course).as_posix() for folder in ("source", "release")
                 for p in (course / folder).rglob("*") if p.is_file()}
    committed |= {".gitignore", "nbgrader_config.py", "scripts/course_setup.py", "requirements.txt"}
    student = getpass.getuser()
    setup = _setup(course)                       # the local exchange, the assignment released into it
    runs = [setup]

    runs.append(nbgrader(course, "fetch_assignment", "03_locks"))
    copy = course / "py-multiprocessing" / "03_locks" / "03_locks.ipynb"
    assert copy.read_bytes() == (course / "release" / "03_locks" / "03_locks.ipynb").read_bytes()
    _answer(copy, {**read_student(CORPUS / "03_locks" / "reference.py").sections,
                   **read_student(CORPUS / "03_locks" / "coarse_ticket_lock.py").sections})
    runs.append(nbgrader(course, "submit", "03_locks"))
    runs.append(nbgrader(course, "collect", "03_locks"))
    submitted = course / "submitted" / student / "03_locks"
    assert sorted(p.name for p in submitted.iterdir()) == ["03_locks.ipynb", "submission_secret.txt",
                                                           "timestamp.txt"]

    runs.append(nbgrader(course, "autograde", "03_locks"))
    feedback_run = nbgrader(course, "generate_feedback", "03_locks")
    assert "WARNING" not in feedback_run.stdout + feedback_run.stderr, feedback_run.stderr
    runs.append(feedback_run)
    runs.append(nbgrader(course, "release_feedback", "03_locks"))
    runs.append(nbgrader(course, "fetch_feedback", "03_locks"))
    fetched = list((course / "py-multiprocessing" / "03_locks" / "feedback").glob("*/03_locks.html"))
    assert len(fetched) == 1, "the student did not get the feedback back"
    html = fetched[0].read_text(encoding="utf-8")
    assert "the ticket queries ran one at a time" in html and "book_ticket: hidden test" in html
    runs.append(nbgrader(course, "export"))
    assert (course / "grades.csv").is_file()
    config_warnings = [line for run in runs for line in (run.stdout + run.stderr).splitlines()
                       if "not recognized" in line]
    assert config_warnings == []

    subprocess.run(["git", "init", "-q"], cwd=course, check=True)
    untracked = subprocess.run(["git", "ls-files", "-z", "--others", "--exclude-standard"], cwd=course,
                               check=True, capture_output=True, text=True).stdout.split("\0")
    untracked = [path for path in untracked if path]
    assert sorted(set(untracked) - committed) == [], "written by nbgrader or the course, not in .gitignore"


def test_set_up_installs_only_what_requirements_txt_lacks(tmp_path):
    setup = course_setup()
    assert setup.missing_requirements(REPO / "requirements.txt") == []
    wanted = tmp_path / "requirements.txt"
    wanted.write_text("# a comment\npytest>=1  # satisfied\nmpcourse-no-such-package==1.0\npytest<1\n"
                      "psutil>=1; sys_platform == 'no-such-platform'\n", encoding="utf-8")
    assert setup.missing_requirements(wanted) == ["mpcourse-no-such-package==1.0", "pytest<1"]


def test_without_the_exchange_copies_once_and_never_overwrites(tmp_path, capsys):
    course = tmp_path / "course"
    shutil.copytree(REPO / "release", course / "release")
    shutil.copy(REPO / "nbgrader_config.py", course)
    setup = course_setup()
    assert setup.copy_all(course) == 0
    copies = sorted(p.relative_to(course).as_posix() for p in (course / "py-multiprocessing").rglob("*.ipynb"))
    assert copies == [f"py-multiprocessing/{name}/{name}.ipynb" for name in RELEASED]
    mine = course / "py-multiprocessing" / "03_locks" / "03_locks.ipynb"
    mine.write_text(mine.read_text(encoding="utf-8").replace("NotImplementedError", "MyWork"), encoding="utf-8")
    capsys.readouterr()
    assert setup.copy_all(course) == 0
    assert "kept your copy" in capsys.readouterr().out and "MyWork" in mine.read_text(encoding="utf-8")
    assert not (course / "exchange").exists()
