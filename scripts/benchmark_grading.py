"""How much grading safety costs, and how well class grading scales: ratios measured in one run.

    python scripts/benchmark_grading.py [--repeat 3] [--n 4] [--part all|overhead|student|scaling]
                                        [--only 07_sockets ...] [--assignment 03_locks]

1. For each assignment in source/: wall time of ``nbgrader autograde`` of its reference
   notebook (the source notebook, solutions in, submitted as a student) divided by the
   wall time of a plain ``jupyter nbconvert --execute`` of the same notebook (target <= 1.3).
2. One student's seven assignments in one ``nbgrader autograde "*" --student reference``
   (nbgrader starts once; target <= 30 s), beside the sum of the seven commands of part 1.
3. Wall time of ``mpcourse-grade`` on 2N reference submissions with 2 workers divided by
   the same with 1 worker (target <= 0.6).

Both sides of each ratio run alternately in the same run (median of ``--repeat``), so
machine load affects both; nothing here asserts a time. A progress bar counts the runs on
stderr when it is a terminal.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PATH"] = os.path.dirname(sys.executable) + os.pathsep + e.get("PATH", "")
    return e


def run(args: list[str], cwd: Path, tries: int = 2) -> float:
    for attempt in range(tries):
        started = time.perf_counter()
        result = subprocess.run(args, cwd=cwd, env=env(), capture_output=True, text=True)
        took = time.perf_counter() - started
        if result.returncode == 0:
            return took
        print(f"  ({' '.join(args[1:5])} failed, attempt {attempt + 1}: {result.stderr.strip()[-200:]!r})",
              file=sys.stderr)
    raise SystemExit(f"{' '.join(args[:4])} failed:\n{result.stderr[-3000:]}")


def nbgrader(course: Path, *args: str) -> float:
    return run([sys.executable, "-m", "nbgrader", *args], course)


def make_course(root: Path, assignment: str | list[str], students: list[str]) -> Path:
    """A course whose students each submitted the reference notebook(s) of ``assignment`` (one or several)."""
    course = root / "course"
    course.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    for name in [assignment] if isinstance(assignment, str) else assignment:
        shutil.copytree(REPO / "source" / name, course / "source" / name)
        nbgrader(course, "generate_assignment", name, "--force")
        for student in students:
            dest = course / "submitted" / student / name
            dest.mkdir(parents=True)
            for notebook in (REPO / "source" / name).glob("*.ipynb"):
                shutil.copy(notebook, dest / notebook.name)
            (dest / "timestamp.txt").write_text("2026-11-26 12:00:00.000000 UTC\n")
    return course


def overhead(assignment: str, repeat: int, progress: tqdm) -> tuple[float, float]:
    """(median autograde s, median nbconvert s) for the assignment's reference notebook."""
    with tempfile.TemporaryDirectory(prefix="mpcourse-bench-") as tmp:
        root = Path(tmp)
        course = make_course(root, assignment, ["reference"])
        plain_dir = root / "plain"
        plain_dir.mkdir()
        notebooks = sorted((REPO / "source" / assignment).glob("*.ipynb"))
        for notebook in notebooks:
            shutil.copy(notebook, plain_dir / notebook.name)
        graded, plain = [], []
        for _ in range(repeat):
            plain.append(sum(run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                                  "--ExecutePreprocessor.timeout=600", nb.name, "--output", f"out-{nb.name}"],
                                 plain_dir) for nb in notebooks))
            progress.update(1)
            graded.append(nbgrader(course, "autograde", assignment, "--student", "reference", "--force"))
            progress.update(1)
        return statistics.median(graded), statistics.median(plain)


def one_student(assignments: list[str], repeat: int, progress: tqdm) -> float:
    """Median s of one ``nbgrader autograde "*"`` over a student's submissions of every assignment."""
    with tempfile.TemporaryDirectory(prefix="mpcourse-bench-") as tmp:
        course = make_course(Path(tmp), assignments, ["reference"])
        times = []
        for _ in range(repeat):
            times.append(nbgrader(course, "autograde", "*", "--student", "reference", "--force"))
            progress.update(2)
        return statistics.median(times)


def scaling(assignment: str, n: int, repeat: int, progress: tqdm) -> tuple[float, float]:
    """(median s with 2 workers, median s with 1 worker) for 2n reference submissions."""
    with tempfile.TemporaryDirectory(prefix="mpcourse-bench-") as tmp:
        course = make_course(Path(tmp), assignment, [f"student{i:02d}" for i in range(2 * n)])
        grade = [sys.executable, "-m", "mpcourse.parallel", assignment, "--course", str(course), "--force",
                 "--quiet"]
        two, one = [], []
        for _ in range(repeat):
            one.append(run(grade + ["--workers", "1"], course))
            progress.update(1)
            two.append(run(grade + ["--workers", "2"], course))
            progress.update(1)
        return statistics.median(two), statistics.median(one)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--n", type=int, default=4, help="N: grade 2N submissions")
    parser.add_argument("--assignment", default=None, help="assignment for the scaling run (default: the first)")
    parser.add_argument("--part", choices=("all", "overhead", "student", "scaling"), default="all",
                        help="measure only one part")
    parser.add_argument("--only", nargs="+", default=None, metavar="ASSIGNMENT",
                        help="measure the overhead of these assignments only")
    args = parser.parse_args()
    assignments = sorted(p.name for p in (REPO / "source").iterdir() if any(p.glob("*.ipynb")))
    unknown = set(args.only or ()) - set(assignments)
    if unknown:
        parser.error(f"no such assignment in source/: {', '.join(sorted(unknown))}")
    print(f"{os.cpu_count()} CPUs, start method {os.environ.get('COURSE_START_METHOD', 'default')}, "
          f"median of {args.repeat}", flush=True)
    measured = args.only or assignments
    parts = {"overhead", "student", "scaling"} if args.part == "all" else {args.part}
    runs = 2 * args.repeat * (len(measured) * ("overhead" in parts) + ("student" in parts)
                              + ("scaling" in parts))
    progress = tqdm(total=runs, unit="run", desc="benchmark", file=sys.stderr, disable=None)  # None: tty only

    def say(line: str) -> None:                         # a result line, printed above the bar
        progress.write(line, file=sys.stdout)
        sys.stdout.flush()

    if "overhead" in parts:
        say(f"{'assignment':24} {'autograde s':>12} {'nbconvert s':>12} {'ratio':>7}  (target <= 1.3)")
        total = 0.0
        for assignment in measured:
            graded, plain = overhead(assignment, args.repeat, progress)
            total += graded
            say(f"{assignment:24} {graded:12.2f} {plain:12.2f} {graded / plain:7.2f}")
        if not args.only:
            say(f"{'seven commands, total':24} {total:12.2f}  (one nbgrader autograde per assignment; target <= 45 s)")
    if "student" in parts:
        whole = one_student(measured, args.repeat, progress)
        say(f"{'one command, all seven':24} {whole:12.2f}  (nbgrader autograde \"*\" --student reference; "
            "target <= 30 s)")
    if "scaling" in parts:
        target = args.assignment or assignments[0]
        two, one = scaling(target, args.n, args.repeat, progress)
        say(f"{2 * args.n} submissions of {target}: 2 workers {two:.2f} s, 1 worker {one:.2f} s, "
            f"ratio {two / one:.2f}  (target <= 0.6)")
    progress.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
