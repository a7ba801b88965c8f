"""``mpcourse-grade`` grades a class on Dask and ends with the gradebook a sequential autograde makes."""
from __future__ import annotations

import subprocess
import sys

import pytest
from course import FAST_GRADING, corpus, environment, gradebook_dump, hostile, make_course, nbgrader, submit

ASSIGNMENT = "03_locks"


@pytest.mark.slow
def test_parallel_gradebook_equals_a_sequential_run(tmp_path, monkeypatch):
    for key, value in FAST_GRADING.items():
        monkeypatch.setenv(key, value)
    students = [s for s in corpus(ASSIGNMENT) if s.id in ("reference", "unlocked_withdraw")]
    students += [s for s in hostile(ASSIGNMENT) if s.id == "exit_kernel"]

    (tmp_path / "sequential").mkdir()
    (tmp_path / "parallel").mkdir()
    sequential = make_course(tmp_path / "sequential", [ASSIGNMENT])
    submit(sequential, ASSIGNMENT, students)
    nbgrader(sequential, "autograde", ASSIGNMENT, "--force", check=False, timeout=900)

    parallel = make_course(tmp_path / "parallel", [ASSIGNMENT])
    submit(parallel, ASSIGNMENT, students)
    broken = parallel / "submitted" / "broken_file" / ASSIGNMENT
    broken.mkdir(parents=True)
    (broken / f"{ASSIGNMENT}.ipynb").write_text("{ this is not a notebook")
    (broken / "timestamp.txt").write_text("2026-11-26 12:00:00.000000 UTC\n")
    result = subprocess.run([sys.executable, "-m", "mpcourse.parallel", ASSIGNMENT, "--course", str(parallel),
                             "--workers", "2", "--force"], capture_output=True, text=True,
                            env=environment(), timeout=900)

    assert result.returncode == 1, result.stderr[-3000:]
    assert "broken_file: NOT GRADED" in result.stderr
    expected = gradebook_dump(sequential, ASSIGNMENT)
    assert sorted(expected) == sorted(s.id for s in students)
    got = gradebook_dump(parallel, ASSIGNMENT)
    got.pop("broken_file", None)
    assert got == expected
    for student in students:
        assert (parallel / "autograded" / student.id / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").exists()
