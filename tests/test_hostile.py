"""Hostile submissions, through nbgrader's real commands: they harm nobody, earn nothing, and leave nothing.

tests/hostile/<assignment>/*.py use the corpus format (``# expect:`` lines, ``# %% <grade_id>``
sections, ``# %% +<grade_id>`` for cells added to the notebook's JSON). ``aa_honest_first``
and ``zz_honest_last`` are honest students whose ids sort before and after every attacker,
so nbgrader grades one before and one after them. Each run asserts:

* every submission is graded (none dropped), with the expected points: an attacked
  exercise earns nothing;
* the honest students' gradebook rows equal those of a course graded without any
  attacker, and again after a later run;
* every notebook finished within its time budget; no process and no sandbox is left;
* the course's files and the virtual environment are unchanged;
* no attacker's graded notebook (its feedback) holds anything of source/, of the
  gradebook or of another student's answer.

The test runs from a process that is a Linux child subreaper, so a process that escaped
everything would be re-parented to it and seen.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import site
import sys
from pathlib import Path

import psutil
import pytest
from course import (
    REPO, configure, gradebook_dump, hostile, make_course, mismatches, nbgrader, scores, submit,
    surviving_processes,
)

from mpcourse.runner import become_subreaper

ASSIGNMENT = "03_locks"
HONEST = ("aa_honest_first", "zz_honest_last")
#: short limits, so that hanging cases cost seconds; the kernel's budget for a 03_locks notebook is then
#: 4 (setup) + 3 x 4 (answers) + 7 x 5 (test cells hand their checks over) + 5 = 56 s
LIMITS = {"MPCOURSE_TEST_CELL_TIMEOUT": "20", "MPCOURSE_OTHER_CELL_TIMEOUT": "4"}
BUDGET_MARGIN = 5
SECRETS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "HONEST-MARKER", "SQLite format 3", "check_withdraw_once")

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sandboxes and subreapers need Linux")


@pytest.fixture
def adopter(monkeypatch):
    """Short grading limits, and this process adopts every orphan; yields the pids it had before."""
    for key, value in LIMITS.items():
        monkeypatch.setenv(key, value)
    become_subreaper()
    _reap()
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield before
    for proc in _alive_descendants(before):
        proc.kill()
    _reap()


def _reap() -> None:
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
    _reap()
    described = set(surviving_processes(marker))
    for proc in _alive_descendants(before):
        try:
            described.add(f"{proc.pid}: {' '.join(proc.cmdline())[:120]}")
        except psutil.Error:
            continue
    return sorted(described)


def fingerprint(*folders) -> dict[str, str]:
    """Path -> hash of every file under the folders (the course's own files, the package, site-packages' top)."""
    out = {}
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", "autograded", "feedback", "submitted")]
            for name in files:
                path = os.path.join(root, name)
                if name == "gradebook.db" or name.endswith(".pyc"):
                    continue
                try:
                    with open(path, "rb") as f:
                        out[path] = hashlib.sha256(f.read()).hexdigest()
                except OSError:
                    out[path] = "unreadable"
    return out


def outputs_text(course, student: str) -> str:
    """Everything a student's graded notebook shows as output (what reaches their feedback)."""
    nb = json.loads((course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    return json.dumps([cell.get("outputs", []) for cell in nb["cells"]])


def site_packages_entries() -> set[str]:
    return {os.path.join(p, e) for p in site.getsitepackages() if os.path.isdir(p) for e in os.listdir(p)}


def honest_rows(course) -> dict:
    dump = gradebook_dump(course, ASSIGNMENT)
    return {s: dump.get(s) for s in HONEST}


def budgets(log: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in re.findall(r"its cells ran in ([\d.]+) s of its ([\d.]+) s budget", log)]


def _grade(course, start_method: str, parallel: bool):
    if parallel:
        return nbgrader(course, ASSIGNMENT, "--workers", "2", "--force", "--quiet", start_method=start_method,
                        check=False, timeout=1500, command="mpcourse.parallel")
    return nbgrader(course, "autograde", ASSIGNMENT, "--force", start_method=start_method, check=False, timeout=1500)


#: the attacks that only the class grader (mpcourse-grade, on Dask) can meet
GRADER_ONLY = {"dask_hijack"}
WAYS = [("fork", True), ("spawn", False)]


def attackers_for(parallel: bool, attackers: list) -> list:
    """The attackers one way of grading meets: in CI, half of them each (alternating by name).

    Each attack is thus met in every CI run, by one way or the other;
    ``MPCOURSE_HOSTILE_EVERY_WAY=1`` sends every attacker through both (outside CI: it
    doubles the suite's longest test).
    """
    every = os.environ.get("MPCOURSE_HOSTILE_EVERY_WAY") == "1"
    chosen = []
    for i, attacker in enumerate(sorted(attackers, key=lambda s: s.id)):
        if attacker.id in GRADER_ONLY:
            if parallel:
                chosen.append(attacker)
        elif every or i % 2 == int(parallel):
            chosen.append(attacker)
    return chosen


@pytest.mark.slow
@pytest.mark.parametrize(("start_method", "parallel"), WAYS, ids=["fork-mpcourse-grade", "spawn-nbgrader"])
def test_hostile_submissions_harm_nobody_and_leave_nothing(tmp_path, adopter, start_method, parallel):
    every = hostile(ASSIGNMENT)
    honest = [s for s in every if s.id in HONEST]
    attackers = attackers_for(parallel, [s for s in every if s.id not in HONEST])
    students = honest + attackers
    assert len(honest) == 2 and len(attackers) >= 10

    baseline = make_course(tmp_path / "baseline", [ASSIGNMENT])
    configure(baseline, f"c.GradingExecute.budget_margin = {BUDGET_MARGIN}")
    submit(baseline, ASSIGNMENT, honest)
    nbgrader(baseline, "autograde", ASSIGNMENT, "--force", start_method=start_method, check=False)
    expected_rows = honest_rows(baseline)
    assert all(expected_rows.values()), "the honest students were not graded in the baseline"

    course = make_course(tmp_path / "attacked", [ASSIGNMENT])
    configure(course, f"c.GradingExecute.budget_margin = {BUDGET_MARGIN}")
    submit(course, ASSIGNMENT, students)
    import mpcourse

    watched = [course / "source", course / "release", os.path.dirname(mpcourse.__file__)]
    files_before = fingerprint(*watched) | {"nbgrader_config.py": (course / "nbgrader_config.py").read_text()}
    packages_before = site_packages_entries()

    run = _grade(course, start_method, parallel)

    assert [s.id for s in students if scores(course, ASSIGNMENT, s.id) is None] == [], \
        f"dropped submissions\n{run.stderr[-4000:]}"
    assert mismatches(course, ASSIGNMENT, students) == []
    assert honest_rows(course) == expected_rows
    spent = budgets(run.stderr)                      # (mpcourse-grade's workers keep nbgrader's log to themselves)
    assert parallel or len(spent) == len(students) and max(b for _t, b in spent) < 60
    for took, budget in spent:
        assert took <= budget + 10, f"a notebook's cells took {took:.0f} s of a {budget:.0f} s budget"
    assert survivors(adopter, run.marker) == []
    assert run.leftover_sandboxes == []
    assert fingerprint(*watched) | {"nbgrader_config.py": (course / "nbgrader_config.py").read_text()} \
        == files_before
    assert site_packages_entries() == packages_before
    for attacker in attackers:
        leaked = [secret for secret in SECRETS if secret in outputs_text(course, attacker.id)]
        assert leaked == [], f"{attacker.id}'s outputs (its feedback) hold {leaked}"

    for student in HONEST:                                  # a later run: nothing the attackers did persists
        nbgrader(course, "autograde", ASSIGNMENT, "--student", student, "--force", start_method=start_method,
                 check=False)
    assert honest_rows(course) == expected_rows


def test_every_attacker_is_met_in_every_ci_run():
    attackers = [s for s in hostile(ASSIGNMENT) if s.id not in HONEST]
    met = [s.id for parallel in (True, False) for s in attackers_for(parallel, attackers)]
    assert sorted(met) == sorted(s.id for s in attackers)


@pytest.mark.slow
def test_attackers_win_against_a_plain_grader(tmp_path, adopter):
    """The same attacks under nbgrader's plain Execute, without a sandbox: they harm others and leak secrets.

    This is what makes the sandbox and the trusted judges necessary: the gradebook
    attacker zeroes the honest student graded before it, the reader prints the
    solutions into its own feedback, the cheats that patch the checks earn full marks,
    and a double-forked sleeper outlives grading.
    """
    chosen = ["aa_honest_first", "gradebook_rewrite", "read_secrets", "patch_checks", "replace_sys_modules",
              "new_session_double_fork"]
    students = [s for s in hostile(ASSIGNMENT) if s.id in chosen]
    course = make_course(tmp_path, [ASSIGNMENT])
    configure(course, "from nbgrader.preprocessors import Execute as _PlainExecute",
              "c.Autograde.autograde_preprocessors = [_PlainExecute] + _RECORD", "c.Execute.timeout = 30")
    submit(course, ASSIGNMENT, students)
    nbgrader(course, "autograde", ASSIGNMENT, "--force", check=False, timeout=900)

    honest = scores(course, ASSIGNMENT, "aa_honest_first")
    assert honest is not None and honest["withdraw"] != (4.0, 4.0), \
        "the gradebook attacker should have changed the grades of the honest student graded before it"
    leaked = outputs_text(course, "read_secrets")
    assert "BEGIN SOLUTION" in leaked or "HONEST-MARKER" in leaked, "the reader should have leaked solutions"
    for cheat in ("patch_checks", "replace_sys_modules"):
        got = scores(course, ASSIGNMENT, cheat)
        assert got is not None and got["withdraw"][0] > 0, f"{cheat} should earn points from a plain grader"
    left = [p for p in _alive_descendants(adopter) if "sleep" in " ".join(p.cmdline())]
    assert left, "the double-forked sleeper should outlive a plain grader"


def test_grading_is_refused_without_a_sandbox_unless_the_instructor_accepts_the_risk(tmp_path, monkeypatch):
    students = [s for s in hostile(ASSIGNMENT) if s.id == "aa_honest_first"]
    course = make_course(tmp_path, [ASSIGNMENT])
    submit(course, ASSIGNMENT, students)
    monkeypatch.setenv("MPCOURSE_SANDBOX", "none")
    refused = nbgrader(course, "autograde", ASSIGNMENT, "--force", check=False)
    assert "no sandbox is available" in refused.stdout + refused.stderr
    assert scores(course, ASSIGNMENT, "aa_honest_first") is None
    monkeypatch.setenv("MPCOURSE_UNSAFE_NO_SANDBOX", "1")
    accepted = nbgrader(course, "autograde", ASSIGNMENT, "--force", check=False)
    assert "WITHOUT a sandbox" in accepted.stdout + accepted.stderr
    got = scores(course, ASSIGNMENT, "aa_honest_first")
    assert got is not None and all(score == most for score, most in got.values())


def test_the_sandbox_shows_nothing_of_the_host(tmp_path):
    """From inside a grading sandbox: no course, no home, no host processes, no network but its own loopback."""
    import subprocess

    from mpcourse.sandbox import Sandbox, Spec

    probe = (
        "import os, socket, json\n"
        "out = {'proc': sorted(p for p in os.listdir('/proc') if p.isdigit()),\n"
        "       'root': sorted(os.listdir('/')), 'home': os.path.exists('/root/.bashrc'),\n"
        f"       'course': os.path.exists({str(REPO / 'nbgrader_config.py')!r}),\n"
        f"       'source': os.path.exists({str(REPO / 'source')!r})}}\n"
        "try:\n    open('/usr/x', 'w'); out['usr_writable'] = True\nexcept OSError:\n    out['usr_writable'] = False\n"
        "s = socket.socket(); s.settimeout(1)\n"
        "try:\n    s.connect(('10.0.2.2', 80)); out['net'] = True\nexcept OSError:\n    out['net'] = False\n"
        "out['ifaces'] = sorted(n for _, n in socket.if_nameindex())\n"
        "print(json.dumps(out))\n")
    sandbox = Sandbox([sys.executable, "-c", probe], Spec())
    try:
        proc = sandbox.start(stdout=subprocess.PIPE)
        out = json.loads(proc.communicate(timeout=60)[0])
    finally:
        sandbox.kill()
    assert len(out["proc"]) <= 3                      # bwrap's init, python (and perhaps its child)
    assert not out["home"] and not out["course"] and not out["source"]
    assert not out["usr_writable"] and not out["net"]
    assert out["ifaces"] == ["lo"]
    pythons = {Path(p).parts[1] for p in (sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix),
                                          os.path.realpath(sys.base_prefix))}   # where Python is installed
    assert set(out["root"]) <= {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "proc", "dev",
                                "tmp"} | pythons


def test_a_python_under_tmp_still_runs_in_the_sandbox(tmp_path):
    """The sandbox's private /tmp must not hide a grader whose virtual environment lives under /tmp."""
    import subprocess
    import sysconfig

    venv = tmp_path / "venv"                         # tmp_path is under /tmp
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    grader = (
        "import subprocess, sys\n"
        "from mpcourse.sandbox import Sandbox, Spec\n"
        "sandbox = Sandbox([sys.executable, '-c', 'print(6 * 7)'], Spec())\n"
        "try:\n"
        "    proc = sandbox.start(stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "    out, err = proc.communicate(timeout=60)\n"
        "finally:\n"
        "    sandbox.kill()\n"
        "print(out.decode().strip(), err.decode().strip())\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]]))
    done = subprocess.run([str(venv / "bin" / "python"), "-c", grader], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split()[:1] == ["42"], done.stdout + done.stderr
