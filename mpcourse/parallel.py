"""``mpcourse-grade``: autograde a whole class in parallel on Dask, into nbgrader's own gradebook.

    mpcourse-grade 03_locks                       # a LocalCluster, one worker per 2 CPUs
    mpcourse-grade 03_locks --workers 4
    mpcourse-grade 03_locks --scheduler tcp://10.0.0.5:8786     # a real cluster
    mpcourse-grade 03_locks --student alice --student bob --force

How it stays correct (the gradebook ends identical to ``nbgrader autograde 03_locks``):

1. *execute*, in parallel: each Dask task receives, by value, the course's config, the
   assignment's source, a private copy of the gradebook and one student's submission;
   it runs ``nbgrader autograde <assignment> --student <id>`` in a scratch course with
   ``MPCOURSE_AUTOGRADE_PHASE=execute`` (sanitize, then ``GradingExecute`` only: the
   slow part) and sends back the executed notebooks. Nothing is written to the real
   gradebook, so any number of workers, on any machines, never contend for it.
2. *record*, alone, in this process's machine: ``nbgrader autograde`` over the executed
   notebooks with ``MPCOURSE_AUTOGRADE_PHASE=record`` runs the rest of nbgrader's
   autograde pipeline (IgnorePattern ... SaveAutoGrades, late penalties) against the
   real gradebook. nbgrader's own code writes every row, one writer at a time, so SQLite
   needs no locking tricks; a PostgreSQL ``--db`` works the same way.

A submission that cannot be graded (a broken notebook file, a worker lost) gets one
``<student>: NOT GRADED: <why>`` line; the others are graded anyway; the exit status is 1.
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

PHASE_VARIABLE = "MPCOURSE_AUTOGRADE_PHASE"
#: variables of the grader's environment that workers get too (limits, start method)
FORWARDED = ("COURSE_START_METHOD", "MPCOURSE_TEST_CELL_TIMEOUT", "MPCOURSE_OTHER_CELL_TIMEOUT",
             "MPCOURSE_MAX_PROCESSES", "MPCOURSE_JUDGES")


# ----------------------------------------------------------------------------------
# bundles: folders travel to workers by value, so a remote cluster needs no shared disk

def pack(files: dict[str, Path]) -> bytes:
    """A tar.gz of {name in archive: path (file or folder)}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, path in files.items():
            tar.add(str(path), arcname=name)
    return buffer.getvalue()


def unpack(data: bytes, into: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(into, filter="data")


def _nbgrader_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")   # nbgrader runs alembic
    env.update(extra)
    return env


# ----------------------------------------------------------------------------------
# the worker's task

def execute_submission(template: bytes, submission: bytes, assignment: str, student: str,
                       env: dict[str, str], timeout: float = 6 * 3600) -> tuple[str, bool, bytes | str]:
    """Run one student's notebooks in a scratch course; (student, True, executed files) or (student, False, why)."""
    scratch = Path(tempfile.mkdtemp(prefix="mpcourse-grade-"))
    try:
        unpack(template, scratch)
        unpack(submission, scratch / "submitted" / student / assignment)
        try:
            result = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--student",
                                     student, "--force"], cwd=scratch, capture_output=True, text=True,
                                    env=_nbgrader_env({**env, PHASE_VARIABLE: "execute"}), timeout=timeout)
        except subprocess.TimeoutExpired:
            return student, False, f"nbgrader did not finish in {timeout:.0f} s"
        done = scratch / "autograded" / student / assignment
        if not done.is_dir() or not any(done.glob("*.ipynb")):
            return student, False, _last_error(result.stdout + result.stderr)
        stamp = scratch / "submitted" / student / assignment / "timestamp.txt"
        if stamp.exists() and not (done / "timestamp.txt").exists():
            shutil.copy(stamp, done / "timestamp.txt")          # the record phase reads the submission time
        return student, True, pack({".": done})
    except Exception as exc:  # a broken bundle, a full disk: this student only
        return student, False, f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "Error" in line]
    return (errors or lines or ["nbgrader produced no notebook"])[-1][:300]


# ----------------------------------------------------------------------------------
# the parent

def find_students(course: Path, assignment: str, only: list[str], force: bool) -> list[str]:
    submitted = course / "submitted"
    students = sorted(p.parent.name for p in submitted.glob(f"*/{assignment}") if p.is_dir())
    if only:
        students = [s for s in students if s in set(only)]
    if not force:
        students = [s for s in students if not (course / "autograded" / s / assignment).exists()]
    return students


def make_template(course: Path, assignment: str, db_url: str | None) -> bytes:
    """Config + source + a private SQLite gradebook that knows the assignment (never the real one)."""
    with tempfile.TemporaryDirectory(prefix="mpcourse-template-") as tmp:
        tmp_path = Path(tmp)
        shutil.copy(course / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
        shutil.copytree(course / "source" / assignment, tmp_path / "source" / assignment)
        gradebook = course / "gradebook.db"
        if db_url is None and gradebook.exists():
            _copy_sqlite(gradebook, tmp_path / "gradebook.db")
        else:                                           # e.g. PostgreSQL: build the assignment's rows afresh
            result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
                                    cwd=tmp_path, capture_output=True, text=True, env=_nbgrader_env({}))
            if result.returncode != 0:
                raise SystemExit(f"could not prepare the assignment: {_last_error(result.stderr)}")
            shutil.rmtree(tmp_path / "release", ignore_errors=True)
        return pack({"nbgrader_config.py": tmp_path / "nbgrader_config.py", "source": tmp_path / "source",
                     "gradebook.db": tmp_path / "gradebook.db"})


def _copy_sqlite(src: Path, dest: Path) -> None:
    import sqlite3

    with sqlite3.connect(src) as source, sqlite3.connect(dest) as target:
        source.backup(target)                           # consistent even if someone else is writing


def record(course: Path, assignment: str, executed: dict[str, bytes], db_url: str | None,
           env: dict[str, str]) -> dict[str, str]:
    """Write the executed notebooks' grades into the real gradebook; {student: why} for failures."""
    if not executed:
        return {}
    staging_name = f".mpcourse-staging-{uuid.uuid4().hex[:8]}"
    staging = course / staging_name
    try:
        for student, data in executed.items():
            unpack(data, staging / student / assignment)
        args = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
                f"--CourseDirectory.submitted_directory={staging_name}"]
        if db_url:
            args.append(f"--CourseDirectory.db_url={db_url}")
        result = subprocess.run(args, cwd=course, capture_output=True, text=True,
                                env=_nbgrader_env({**env, PHASE_VARIABLE: "record"}))
        failures = {}
        for student in executed:
            if not any((course / "autograded" / student / assignment).glob("*.ipynb")):
                failures[student] = _last_error(result.stdout + result.stderr)
        return failures
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def grade_class(course: Path, assignment: str, workers: int | None = None, scheduler: str | None = None,
                students: list[str] | None = None, force: bool = False, db_url: str | None = None,
                progress: bool = True) -> dict[str, str]:
    """Grade every submission of ``assignment``; returns {student: why} for those not graded."""
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    course = course.resolve()
    todo = find_students(course, assignment, students or [], force)
    if not todo:
        return {}
    env = {k: os.environ[k] for k in FORWARDED if k in os.environ}
    template = make_template(course, assignment, db_url)
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers or max(1, (os.cpu_count() or 2) // 2), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    failures: dict[str, str] = {}
    executed: dict[str, bytes] = {}
    try:
        shared = client.scatter(template, broadcast=True)
        futures = [client.submit(execute_submission, shared, pack({".": course / "submitted" / s / assignment}),
                                 assignment, s, env, key=f"grade-{assignment}-{s}-{uuid.uuid4().hex[:6]}",
                                 pure=False, retries=1)
                   for s in todo]
        bar = tqdm(total=len(futures), unit="student", desc=f"grading {assignment}", disable=not progress,
                   file=sys.stderr)
        for future in as_completed(futures):
            try:
                student, ok, payload = future.result()
            except Exception as exc:                    # a worker died twice on this student
                student, ok, payload = _student_of(future.key, assignment), False, f"{type(exc).__name__}: {exc}"
            if ok:
                executed[student] = payload
            else:
                failures[student] = str(payload)
                bar.write(f"{student}: NOT GRADED: {payload}", file=sys.stderr)
            bar.update(1)
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    for student, why in record(course, assignment, executed, db_url, env).items():
        failures[student] = why
        print(f"{student}: NOT GRADED: {why}", file=sys.stderr)
    return failures


def _student_of(key: str, assignment: str) -> str:
    return key[len(f"grade-{assignment}-"):].rsplit("-", 1)[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mpcourse-grade", description=(
        "Autograde every submission of an assignment in parallel (Dask), into nbgrader's gradebook."))
    parser.add_argument("assignment")
    parser.add_argument("--course", default=".", help="the course folder (with nbgrader_config.py); default: here")
    parser.add_argument("--workers", type=int, default=None, help="local workers (default: half the CPUs)")
    parser.add_argument("--scheduler", default=None, help="address of a Dask scheduler, e.g. tcp://host:8786")
    parser.add_argument("--student", action="append", default=[], help="grade only this student (repeatable)")
    parser.add_argument("--force", action="store_true", help="grade again students already autograded")
    parser.add_argument("--db", default=None, help="gradebook URL (default: the course's gradebook.db)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    started = time.monotonic()
    failures = grade_class(Path(args.course), args.assignment, workers=args.workers, scheduler=args.scheduler,
                           students=args.student, force=args.force, db_url=args.db, progress=not args.quiet)
    took = time.monotonic() - started
    print(f"graded {args.assignment} in {took:.1f} s; {len(failures)} submission(s) not graded", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
