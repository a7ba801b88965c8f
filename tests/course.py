"""Run nbgrader's real commands on a scratch copy of the course, and read the gradebook.

A corpus file is ``tests/corpus/<assignment>/<student>.py``: ``# expect: <grade_id>=<verdict>``
lines, a ``# why:`` line, then ``# %% <grade_id>`` sections that replace answer cells
(missing sections come from ``reference.py``). Verdicts: pass, fail, partial, zero.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).resolve().parent / "corpus"
START_METHODS = ("fork", "spawn", "forkserver")
SECTION = re.compile(r"^# %% (\S+)\s*$", re.M)


@dataclass
class Student:
    path: Path
    sections: dict[str, str]
    extra_cells: list[tuple[str, str]] = field(default_factory=list)   # (after grade_id, source): ``# %% +gid``
    expect: dict[str, str] = field(default_factory=dict)
    why: str = ""
    mistakes: set[str] = field(default_factory=set)      # ids the grader must report (``# mistake:`` lines)

    @property
    def id(self) -> str:
        return self.path.stem


def read_student(path: Path) -> Student:
    """A corpus file; ``# %% +<grade_id>`` sections are extra cells a student added (by editing the JSON)."""
    text = path.read_text(encoding="utf-8")
    head, *rest = SECTION.split(text)
    sections, extra = {}, []
    for i in range(0, len(rest), 2):
        name, source = rest[i], rest[i + 1].strip() + "\n"
        if name.startswith("+"):
            extra.append((name[1:], source))
        else:
            sections[name] = source
    student = Student(path, sections, extra)
    for line in head.splitlines():
        if line.startswith("# expect:"):
            for pair in line[len("# expect:"):].split():
                gid, _, verdict = pair.partition("=")
                student.expect[gid] = verdict
        elif line.startswith("# why:"):
            student.why = line[len("# why:"):].strip()
        elif line.startswith("# mistake:"):
            student.mistakes.update(line[len("# mistake:"):].split())
    return student


def corpus(assignment: str) -> list[Student]:
    return [read_student(p) for p in sorted((CORPUS / assignment).glob("*.py"))]


def environment(start_method: str | None = None) -> dict[str, str]:
    """nbgrader needs the venv's scripts (alembic, jupyter) on PATH."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    if start_method:
        env["COURSE_START_METHOD"] = start_method
    return env


RUN_MARKER = "MPCOURSE_TEST_RUN"


def nbgrader(course: Path, *args: str, start_method: str | None = None, check: bool = True,
             timeout: float = 1800, command: str = "nbgrader") -> subprocess.CompletedProcess:
    """Run an nbgrader command (or ``command="mpcourse.parallel"``); ``result.marker`` tags every process it started."""
    import uuid

    from mpcourse.sandbox import CGROUP_VARIABLE, cgroups_left, remove_cgroup_parent

    env = environment(start_method)
    env[RUN_MARKER] = marker = uuid.uuid4().hex
    env[CGROUP_VARIABLE] = cgroup = f"mpcourse-test/{marker[:12]}"      # this run's sandboxes, counted after
    scratch = Path(tempfile.mkdtemp(prefix="mpc-"))   # the run's temporary files (a short path: AF_UNIX sockets)
    env["TMPDIR"] = str(scratch)
    try:
        # files, not pipes: a process the run leaves behind (a plain grader cannot stop them) may hold
        # the pipes open, and reading them to their end would wait for it
        with open(scratch / "stdout", "w+", encoding="utf-8", errors="replace") as out, \
                open(scratch / "stderr", "w+", encoding="utf-8", errors="replace") as err:
            done = subprocess.run([sys.executable, "-m", command, *args], cwd=course, env=env,
                                  stdout=out, stderr=err, timeout=timeout)
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(done.args, done.returncode, out.read(), err.read())
    finally:
        leftovers = sorted(p.name for p in scratch.glob("mpcourse-*"))
        shutil.rmtree(scratch, ignore_errors=True)
        result_cgroups = cgroups_left(cgroup)
        remove_cgroup_parent(cgroup)
    result.marker = marker
    result.leftover_temp_folders = leftovers      # the course package's folders the run left behind
    result.leftover_sandboxes = result_cgroups    # sandboxes (cgroups) the run did not take down
    if check and result.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def make_course(tmp: Path, assignments: list[str]) -> Path:
    """A scratch course: the repo's config and sources, assignments generated there."""
    course = tmp / "course"
    course.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    for assignment in assignments:
        shutil.copytree(REPO / "source" / assignment, course / "source" / assignment)
    for assignment in assignments:
        nbgrader(course, "generate_assignment", assignment, "--force")
    return course


def answer_ids(notebook: Path) -> list[str]:
    nb = nbformat.read(notebook, as_version=4)
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def submit(course: Path, assignment: str, students: list[Student]) -> None:
    """Write submitted/<student>/<assignment>/ from the release, answers replaced."""
    release = course / "release" / assignment
    reference = next((s for s in students if s.id == "reference"), None) or read_student(
        CORPUS / assignment / "reference.py")
    for student in students:
        dest = course / "submitted" / student.id / assignment
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(release, dest)
        for path in dest.glob("*.ipynb"):
            nb = nbformat.read(path, as_version=4)
            cells = []
            for cell in nb.cells:
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if cell.metadata.get("nbgrader", {}).get("solution"):
                    cell.source = student.sections.get(gid, reference.sections.get(gid, cell.source))
                cells.append(cell)
                cells += [nbformat.v4.new_code_cell(source) for after, source in student.extra_cells if after == gid]
            nb.cells = cells
            nbformat.write(nb, path)
        (dest / "timestamp.txt").write_text("2026-11-26 12:00:00.000000 UTC\n")


def scores(course: Path, assignment: str, student: str) -> dict[str, tuple[float, float]] | None:
    """{exercise grade_id: (score, max)} from the gradebook; None if the student was never graded."""
    from nbgrader.api import Gradebook, MissingEntry

    if not (course / "autograded" / student / assignment).is_dir():
        return None
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        answers = {c.name for nb in submission.assignment.notebooks for c in nb.solution_cells}
        out: dict[str, list[float]] = {gid: [0.0, 0.0] for gid in answers}
        for nb in submission.notebooks:
            for grade in nb.grades:
                owners = [gid for gid in answers if grade.name == gid or grade.name.startswith(gid + "_")]
                if not owners or grade.max_score == 0:
                    continue
                if grade.auto_score is None and grade.manual_score is None:
                    return None
                owner = max(owners, key=len)
                out[owner][0] += grade.score
                out[owner][1] += grade.max_score
    return {gid: (s, m) for gid, (s, m) in out.items()}


def cell_scores(course: Path, assignment: str, student: str) -> dict[str, tuple[float, float]]:
    """{test cell grade_id: (score, max)} of a graded student, from the gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submission = gb.find_submission(assignment, student)
        return {g.name: (g.score, g.max_score) for nb in submission.notebooks for g in nb.grades}


def verdict_met(verdict: str, score: float, max_score: float) -> bool:
    return {"pass": score >= max_score, "fail": score < max_score, "partial": 0 < score < max_score,
            "zero": score == 0, "any": True}[verdict]


def mistakes_reported(course: Path, assignment: str, student: str) -> dict[str, str]:
    """{exercise: the first mistake id the grader reported for it} in a student's autograded notebook.

    The first failure of an exercise (notebook order: its visible test comes first) is its
    central mistake; class reports count those.
    """
    found: dict[str, str] = {}
    for path in (course / "autograded" / student / assignment).glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                info = output.get("metadata", {}).get("mpcourse") if output.get("output_type") == "display_data" \
                    else None
                if info and info.get("mistake"):
                    found.setdefault(info.get("exercise", "?"), info["mistake"])
    return found


def mismatches(course: Path, assignment: str, students: list[Student]) -> list[str]:
    """One line per student whose grades (or reported mistake ids) do not match the corpus's expectations."""
    problems = []
    for student in students:
        got = scores(course, assignment, student.id)
        if got is None:
            problems.append(f"{student.id}: not graded")
            continue
        for gid, (score, max_score) in sorted(got.items()):
            verdict = student.expect.get(gid, "pass")
            if not verdict_met(verdict, score, max_score):
                problems.append(f"{student.id}: {gid} expected {verdict}, got {score:g}/{max_score:g} ({student.why})")
        if student.mistakes:
            reported = set(mistakes_reported(course, assignment, student.id).values())
            if student.mistakes != reported:
                problems.append(f"{student.id}: the grader reported the mistakes {sorted(reported)}, the corpus "
                                f"says {sorted(student.mistakes)}")
    return problems


def surviving_processes(marker: str) -> list[str]:
    """Processes started by the nbgrader run tagged ``marker`` that are still alive."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if proc.environ().get(RUN_MARKER) == marker and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{proc.pid}: {' '.join(proc.info['cmdline'] or [])[:120]}")
        except (psutil.Error, OSError):
            continue
    return found


# ----------------------------------------------------------------------------------
# hostile submissions, grading limits, gradebook dumps (for tests/test_hostile.py and
# tests/test_parallel_grading.py)

HOSTILE = Path(__file__).resolve().parent / "hostile"

#: short limits for test courses (read by nbgrader_config.py), so hanging cases cost seconds
FAST_GRADING = {"MPCOURSE_TEST_CELL_TIMEOUT": "10", "MPCOURSE_OTHER_CELL_TIMEOUT": "6"}


def hostile(assignment: str) -> list[Student]:
    """tests/hostile/<assignment>/*.py, in the corpus format."""
    return [read_student(p) for p in sorted((HOSTILE / assignment).glob("*.py"))]


def configure(course: Path, *lines: str) -> None:
    """Append config lines (``c.GradingExecute.max_processes = 50``) to the course's nbgrader_config.py."""
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write("\n" + "\n".join(lines) + "\n")


def gradebook_dump(course: Path, assignment: str, db_url: str | None = None) -> dict:
    """Everything autograde decides, per student, without ids and times: scores, comments, flags.

    ``db_url``: another gradebook than the course's gradebook.db (e.g. PostgreSQL).
    """
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(db_url or f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in gb.students:
            try:
                submission = gb.find_submission(assignment, student.id)
            except MissingEntry:
                continue
            notebooks = {}
            for nb in submission.notebooks:
                notebooks[nb.name] = {
                    "grades": sorted((g.name, g.auto_score, g.manual_score, g.max_score, g.needs_manual_grade)
                                     for g in nb.grades),
                    "comments": sorted((c.name, c.auto_comment, c.manual_comment) for c in nb.comments),
                    "flagged": nb.flagged, "late_penalty": nb.late_submission_penalty,
                }
            out[student.id] = {"timestamp": str(submission.timestamp), "notebooks": notebooks}
    return out
