"""Grade every corpus case many times and list every case whose verdict ever differs.

    python scripts/determinism.py                       # N=20, fork/spawn/forkserver, every assignment
    python scripts/determinism.py --n 5 --busy          # with the other core kept busy by a spinner
    python scripts/determinism.py --assignment 03_locks --start-method forkserver
    python scripts/determinism.py --nbgrader --n 3      # through nbgrader autograde instead of direct judging
    python scripts/determinism.py --jobs 4              # four students judged side by side (a loaded machine)

A case is one (corpus file, test cell). Direct mode (the default) runs each test cell's
checks exactly as the grader's judges do (``mpcourse.judge.run_check``, the student's
objects handed over from a namespace built like the student's kernel), so that hundreds
of repetitions take minutes; ``--nbgrader`` grades whole notebooks with nbgrader's real
``autograde`` (slower; it adds the kernel and the hand-over, not the verdicts).

Prints, per start method, how many cases were run how often, and every case that ever
gave two different verdicts, or a verdict other than its corpus file expects; exits 1 if
there is any. Each flip and each unexpected verdict is also printed the moment it is seen, so
a run stopped early still tells what it found. Every student is judged in a fresh process.
Outside CI: it is a long repeat run.
"""
from __future__ import annotations

import argparse
import ast
import multiprocessing
import os
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import nbformat  # noqa: E402
from course import CORPUS, corpus, verdict_met  # noqa: E402
from tqdm import tqdm  # noqa: E402


def test_cells(assignment: str) -> list[tuple[str, str, float]]:
    """(grade_id, source, points) of every test cell of the source notebook, in order."""
    nb = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            source = cell.source.replace("### BEGIN HIDDEN TESTS", "").replace("### END HIDDEN TESTS", "")
            cells.append((meta["grade_id"], source, float(meta.get("points", 0))))
    return cells


def namespace_of(assignment: str, student) -> dict:
    """The student's kernel after the setup and answer cells (reference answers where the file has none)."""
    reference = next(s for s in corpus(assignment) if s.id == "reference")
    nb = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    namespace = {"__name__": "__main__"}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("locked") and not meta.get("grade"):
            exec(compile(cell.source, "<setup>", "exec"), namespace)                    # noqa: S102
        elif meta.get("solution"):
            gid = meta["grade_id"]
            source = student.sections.get(gid, reference.sections.get(gid, ""))
            try:
                exec(compile(source, f"<{gid}>", "exec"), namespace)                    # noqa: S102
            except Exception:  # noqa: BLE001 (a broken answer: its tests fail, as in the kernel)
                pass
    return namespace


def judge_cell(source: str, namespace: dict) -> bool:
    """Run a test cell's check calls one by one through the grader's judge; True when all pass."""
    from mpcourse.checks import CheckFailed, handover
    from mpcourse.judge import run_check

    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        try:
            check_fn = eval(compile(ast.Expression(node.func), "<cell>", "eval"), namespace)   # noqa: S307
            if not hasattr(check_fn, "judge"):
                continue
            args = tuple(eval(compile(ast.Expression(a), "<cell>", "eval"), namespace) for a in node.args)  # noqa: S307
            verdict = run_check(check_fn.judge, handover(check_fn.label or "answer", args),
                                timeout=check_fn.timeout, name=check_fn.label or "answer")
        except (NameError, CheckFailed, AttributeError):
            return False
        if not verdict.ok:
            return False
    return True


def direct_run(assignment: str, start_method: str, student_id: str | None = None) -> dict[tuple[str, str], float]:
    """{(student, test grade_id): points earned} for one run of the corpus of an assignment (or one student)."""
    multiprocessing.set_start_method(start_method, force=True)
    out = {}
    for student in corpus(assignment):
        if student_id is not None and student.id != student_id:
            continue
        namespace = namespace_of(assignment, student)
        for gid, source, points in test_cells(assignment):
            out[(student.id, gid)] = points if judge_cell(source, namespace) else 0.0
    return out


def nbgrader_run(assignment: str, start_method: str, workers: int) -> dict[tuple[str, str], float]:
    """The same through nbgrader (mpcourse-grade with ``workers`` when more than one)."""
    import tempfile

    from course import make_course, submit
    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="determinism-") as tmp:
        students = corpus(assignment)
        course = make_course(Path(tmp), [assignment])
        submit(course, assignment, students)
        env = dict(os.environ, COURSE_START_METHOD=start_method)
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
        if workers > 1:
            command = [sys.executable, "-m", "mpcourse.parallel", assignment, "--workers", str(workers), "--force",
                       "--quiet"]
        else:
            command = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"]
        subprocess.run(command, cwd=course, env=env, capture_output=True, check=False)
        out = {}
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            for student in students:
                try:
                    submission = gb.find_submission(assignment, student.id)
                except Exception:  # noqa: BLE001 (not graded: every cell counts as failed)
                    continue
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        out[(student.id, grade.name)] = grade.score
        return out


def expected_ok(assignment: str, results: dict[tuple[str, str], float]) -> list[str]:
    """Cases of one run whose exercise verdict is not what the corpus file expects (students in ``results`` only)."""
    problems = []
    cells = test_cells(assignment)
    graded = {student for student, _gid in results}
    for student in corpus(assignment):
        if student.id not in graded:
            continue
        by_exercise: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for gid, _source, points in cells:
            exercise = gid.split("_tests")[0].split("_hidden")[0]
            by_exercise[exercise][0] += results.get((student.id, gid), 0.0)
            by_exercise[exercise][1] += points
        for exercise, (score, most) in by_exercise.items():
            want = student.expect.get(exercise, "pass")
            if most and not verdict_met(want, score, most):
                problems.append(f"{student.id}: {exercise} expected {want}, got {score:g}/{most:g}")
    return problems


def run_unit(unit: tuple) -> tuple[tuple, dict[tuple[str, str], float]]:
    """One unit of work in a fresh pool process: a student judged directly, or a whole nbgrader run."""
    assignment, method, _i, student_id, nbgrader, workers = unit
    if nbgrader:
        return unit, nbgrader_run(assignment, method, workers)
    return unit, direct_run(assignment, method, student_id)


class Spinner:
    """Keep one core busy while the runs go on (``--busy``)."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="runs per start method (default 20)")
    parser.add_argument("--assignment", action="append", default=[], help="only these (repeatable)")
    parser.add_argument("--start-method", action="append", default=[], help="only these (repeatable)")
    parser.add_argument("--busy", action="store_true", help="keep the other core busy with a spinner")
    parser.add_argument("--nbgrader", action="store_true", help="grade through nbgrader instead of direct judging")
    parser.add_argument("--workers", type=int, default=1, help="with --nbgrader: mpcourse-grade workers")
    parser.add_argument("--jobs", type=int, default=1,
                        help="students (or nbgrader runs) judged side by side; the checks mostly wait, so 3-4 "
                             "keep a 2-core machine busy, which is itself a loaded-machine test")
    args = parser.parse_args(argv)
    assignments = args.assignment or sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
    methods = args.start_method or ["fork", "spawn", "forkserver"]
    if args.nbgrader:
        units = [(a, m, i, None, True, args.workers) for m in methods for a in assignments for i in range(args.n)]
    else:
        units = [(a, m, i, s.id, False, 1) for m in methods for a in assignments for i in range(args.n)
                 for s in corpus(a)]
    started = time.monotonic()
    seen: dict[tuple, set] = defaultdict(set)
    flips: dict[tuple, str] = {}
    wrong: set[str] = set()
    context = multiprocessing.get_context("spawn")
    with Spinner() if args.busy else _Nothing(), \
            ProcessPoolExecutor(args.jobs, mp_context=context, max_tasks_per_child=1) as pool, \
            tqdm(total=len(units), unit="unit", disable=not sys.stderr.isatty()) as bar:
        for future in as_completed([pool.submit(run_unit, u) for u in units]):
            (assignment, method, _i, _student, _nb, _w), results = future.result()
            bar.update()
            for key, points in results.items():
                case = (method, assignment, *key)
                seen[case].add(points)
                if len(seen[case]) > 1 and case not in flips:
                    flips[case] = f"{method} {assignment} {key[0]} {key[1]}"
                    tqdm.write(f"FLIPPED {flips[case]}: {sorted(seen[case])}")
            for problem in expected_ok(assignment, results):
                line = f"{method} {assignment} {problem}"
                if line not in wrong:
                    wrong.add(line)
                    tqdm.write(f"NOT AS EXPECTED {line}")
            sys.stdout.flush()
    took = time.monotonic() - started
    print(f"{len(seen)} cases x {args.n} runs under {', '.join(methods)}{' (other core busy)' if args.busy else ''}"
          f", {args.jobs} at a time, in {took:.0f} s: {len(flips)} flipped, {len(wrong)} not as the corpus expects")
    for case, line in sorted(flips.items()):
        print(f"  {line}: {sorted(seen[case])}")
    for line in sorted(wrong):
        print("  " + line)
    return 1 if flips or wrong else 0


class _Nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    sys.exit(main())
