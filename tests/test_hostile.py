"""Hostile submissions, through nbgrader's real commands: graded (not dropped), never rewarded, nothing left.

tests/hostile/<assignment>/*.py use the corpus format (``# expect:`` lines, ``# %% <grade_id>``
sections). Each test runs from a process that is a Linux child subreaper, so a process
that escaped the kernel's process group and session (setsid, double fork, an empty
environment) is re-parented to the test and seen by psutil if it survived grading.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import psutil
import pytest
from course import (
    FAST_GRADING, configure, environment, hostile, make_course, mismatches, nbgrader, scores, submit,
    surviving_processes,
)

from mpcourse.runner import become_subreaper

ASSIGNMENT = "03_locks"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="subreaper checks need Linux")


@pytest.fixture
def adopter(monkeypatch):
    """Short grading limits, and this process adopts every orphan; yields the pids it had before."""
    for key, value in FAST_GRADING.items():
        monkeypatch.setenv(key, value)
    become_subreaper()
    _reap()
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield before
    for proc in _alive_descendants(before):
        proc.kill()
    _reap()


def _reap() -> None:
    """Adopted orphans that ended are our zombies now: collect them."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _alive_descendants(before: set[int]) -> list:
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.pid not in before and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def survivors(before: set[int], marker: str) -> list[str]:
    """Processes our nbgrader run started that are alive: adopted orphans (even untagged), or tagged ones."""
    _reap()
    described = set(surviving_processes(marker))
    for proc in _alive_descendants(before):
        try:
            described.add(f"{proc.pid}: {' '.join(proc.cmdline())[:120]}")
        except psutil.Error:
            continue
    return sorted(described)


def outputs_of(course, student: str) -> dict[str, list[dict]]:
    nb = json.loads((course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): c.get("outputs", [])
            for c in nb["cells"] if c["cell_type"] == "code"}


def errors_of(outputs: list[dict]) -> str:
    return " ".join(o.get("evalue", "") for o in outputs if o["output_type"] == "error")


@pytest.mark.slow
def test_hostile_submissions_are_graded_and_leave_nothing_behind(tmp_path, adopter):
    students = hostile(ASSIGNMENT)
    course = make_course(tmp_path, [ASSIGNMENT])
    submit(course, ASSIGNMENT, students)
    run = nbgrader(course, "autograde", ASSIGNMENT, "--force", check=False, timeout=900)

    assert [s.id for s in students if scores(course, ASSIGNMENT, s.id) is None] == [], "dropped submissions"
    assert mismatches(course, ASSIGNMENT, students) == []
    assert survivors(adopter, run.marker) == []

    # the reasons a student reads
    assert "ignored the interrupt" in errors_of(outputs_of(course, "deadlock_ignores_sigint")["withdraw"])
    assert "Python died" in errors_of(outputs_of(course, "exit_kernel")["withdraw"])
    assert "processes at once" in errors_of(outputs_of(course, "many_processes")["withdraw"])
    assert "did not run as written" in errors_of(outputs_of(course, "patch_checks")["withdraw_tests"])
    assert "changed the grader's own code" in errors_of(
        outputs_of(course, "unpickle_patches_judge")["withdraw_tests"])
    # a megabyte of output is capped in the graded notebook
    printed = sum(len("".join(o.get("text", ""))) for o in outputs_of(course, "megabyte_output")["withdraw"])
    assert printed < 40_000


NAIVE = """
from nbgrader.preprocessors import Execute as _PlainExecute
c.Autograde.autograde_preprocessors = [_PlainExecute] + _RECORD
c.Execute.timeout = 30
"""


@pytest.mark.slow
def test_a_naive_grader_is_fooled(tmp_path, adopter):
    """The same cheats under nbgrader's plain Execute (checks judged in the kernel): each one wins.

    This is what makes every defence necessary: without trusted checks the patched,
    faked, hooked and silenced checks give full marks; without kernel recovery a
    kernel that exits drops the whole submission; without the subreaper and tags a
    double-forked process outlives grading.
    """
    cheats = ["patch_checks", "replace_sys_modules", "hook_import", "hide_failures"]
    students = [s for s in hostile(ASSIGNMENT) if s.id in cheats + ["exit_kernel", "new_session_double_fork"]]
    course = make_course(tmp_path, [ASSIGNMENT])
    configure(course, NAIVE)
    submit(course, ASSIGNMENT, students)
    with open(tmp_path / "naive.log", "w") as log:      # survivors keep inherited pipes open: use a file
        subprocess.run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"], cwd=course,
                       env=environment(), stdout=log, stderr=subprocess.STDOUT, timeout=900)

    for cheat in cheats:
        got = scores(course, ASSIGNMENT, cheat)
        assert got is not None and got["withdraw"][0] == got["withdraw"][1], f"{cheat} should fool a naive grader"
    assert scores(course, ASSIGNMENT, "exit_kernel") is None, "a dead kernel drops the notebook under plain Execute"
    left = [p for p in _alive_descendants(adopter) if "sleep" in " ".join(p.cmdline())]
    assert left, "the double-forked sleeper should outlive a naive grader"


ATTACK = textwrap.dedent("""
    import sys, cloudpickle
    from mpcourse.checks import judge_verdict, locks
    objects = cloudpickle.loads(open(sys.argv[1], "rb").read())       # what a naive judge would do
    verdict = judge_verdict(locks.check_withdraw_keeps_every_update.judge, objects, timeout=20, name="withdraw")
    print("PASSED" if verdict.ok else "FAILED")
""")


def test_a_judge_without_the_integrity_check_is_fooled_by_unpickling(tmp_path):
    """The unpickle_patches_judge attack works on a judge that trusts its own modules after loading."""
    import cloudpickle

    from mpcourse import grading

    student = [s for s in hostile(ASSIGNMENT) if s.id == "unpickle_patches_judge"][0]
    namespace = {"__name__": "__main__"}
    exec(student.sections["withdraw"], namespace)                       # noqa: S102 (the student's cell)
    objects = tmp_path / "withdraw.objects"
    objects.write_bytes(cloudpickle.dumps((namespace["withdraw"],)))

    naive = subprocess.run([sys.executable, "-c", ATTACK, str(objects)], capture_output=True, text=True, timeout=120)
    assert naive.stdout.strip() == "PASSED", naive.stderr[-2000:]

    judges = grading._Judges(["mpcourse.checks.locks"], 1, 0, 0, log=None)
    try:
        verdict = judges.submit([{"module": "mpcourse.checks.locks", "check": "check_withdraw_keeps_every_update",
                                  "name": "withdraw", "objects": str(objects)}], 60).result()
    finally:
        judges.close()
    assert verdict[0]["ok"] is False and "changed the grader's own code" in verdict[0]["message"]
