"""``mpcourse-grade``: autograde a whole class in parallel on Dask, into nbgrader's own gradebook.

    mpcourse-grade 03_locks                       # a LocalCluster (TLS), one worker per 2 CPUs
    mpcourse-grade 03_locks --workers 4 --report  # then reports/03_locks.html and .png
    mpcourse-grade 03_locks --scheduler tls://10.0.0.5:8786 \
        --tls-ca-file ca.pem --tls-cert client.pem --tls-key client.key   # a real cluster
    mpcourse-grade 03_locks --student alice --student bob --force

How it stays correct (the gradebook ends identical to ``nbgrader autograde 03_locks``):

1. *execute*, in parallel: each Dask task receives, by value, the course's config, the
   assignment's source, a private copy of the gradebook and a batch of students'
   submissions (about two batches per worker thread, so nbgrader starts once per batch,
   not per student); it runs ``nbgrader autograde <assignment>`` in a scratch course with
   ``MPCOURSE_AUTOGRADE_PHASE=execute`` (sanitize, then ``GradingExecute`` only: the
   slow part) and sends back the executed notebooks. Nothing is written to the real
   gradebook, so any number of workers, on any machines, never contend for it.
2. *record*, alone, in this process's machine: ``nbgrader autograde`` over the executed
   notebooks with ``MPCOURSE_AUTOGRADE_PHASE=record`` runs the rest of nbgrader's
   autograde pipeline (IgnorePattern ... SaveAutoGrades, late penalties) against the
   real gradebook. nbgrader's own code writes every row, one writer at a time, so SQLite
   needs no locking tricks; a PostgreSQL ``--db`` works the same way.

Every connection is TLS with mutual certificates: a Dask client can run any code on the
workers and the submissions are students' work, so a plain ``tcp://`` scheduler is refused
unless ``--insecure`` says the network is trusted. A worker lost mid-task has its
submissions graded again elsewhere (every task carries all it needs). A submission that
cannot be graded (a broken notebook file, a task Dask gave up on, no worker left) gets one
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
#: set to "1" by ``--unsafe-no-sandbox``: the grader then runs kernels without their sandbox
NO_SANDBOX_VARIABLE = "MPCOURSE_UNSAFE_NO_SANDBOX"
#: variables of the grader's environment that workers get too (limits, start method, sandbox)
FORWARDED = ("COURSE_START_METHOD", "MPCOURSE_TEST_CELL_TIMEOUT", "MPCOURSE_OTHER_CELL_TIMEOUT",
             "MPCOURSE_MAX_PROCESSES", "MPCOURSE_JUDGES", NO_SANDBOX_VARIABLE)


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

def execute_batch(template: bytes, submissions: dict[str, bytes], assignment: str, env: dict[str, str],
                  timeout: float = 6 * 3600) -> list[tuple[str, bool, bytes | str]]:
    """Run some students' notebooks in one scratch course, one nbgrader start for them all.

    Returns (student, True, executed files) or (student, False, why) for each. Each
    notebook still runs in its own sandbox with its own budget: a batch shares only
    nbgrader's start-up (about 3 s), which would otherwise be paid per student.
    """
    scratch = Path(tempfile.mkdtemp(prefix="mpcourse-grade-", dir=_worker_directory()))
    try:
        unpack(template, scratch)
        for student, submission in submissions.items():
            unpack(submission, scratch / "submitted" / student / assignment)
        try:
            result = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
                                     _scratch_db(scratch)], cwd=scratch, capture_output=True, text=True,
                                    env=_nbgrader_env({**env, PHASE_VARIABLE: "execute"}), timeout=timeout)
            log = result.stdout + result.stderr
        except subprocess.TimeoutExpired:
            log = f"nbgrader did not finish in {timeout:.0f} s"
        outcomes = []
        for student in submissions:
            done = scratch / "autograded" / student / assignment
            if not done.is_dir() or not any(done.glob("*.ipynb")):
                outcomes.append((student, False, _last_error(log, student)))
                continue
            stamp = scratch / "submitted" / student / assignment / "timestamp.txt"
            if stamp.exists() and not (done / "timestamp.txt").exists():
                shutil.copy(stamp, done / "timestamp.txt")      # the record phase reads the submission time
            outcomes.append((student, True, pack({".": done})))
        return outcomes
    except Exception as exc:  # a broken bundle, a full disk: this batch only
        return [(student, False, f"{type(exc).__name__}: {exc}") for student in submissions]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def batches(students: list[str], slots: int, size: int | None = None) -> list[list[str]]:
    """About two batches per worker thread: nbgrader starts fewer times, and a slow batch still leaves work to share."""
    size = size or max(1, -(-len(students) // max(1, 2 * slots)))
    return [students[i:i + size] for i in range(0, len(students), size)]


def _worker_directory() -> str | None:
    """The Dask worker's own folder: when a worker is killed mid-task, Dask purges it at the next start there."""
    try:
        from distributed import get_worker

        return get_worker().local_directory
    except (ImportError, ValueError):                   # not on a Dask worker
        return None


def _scratch_db(folder: Path) -> str:
    """The command-line option that keeps nbgrader off the real gradebook (even one the config names)."""
    return f"--CourseDirectory.db_url=sqlite:///{folder / 'gradebook.db'}"


def _last_error(log: str, student: str | None = None) -> str:
    """The line of nbgrader's log that best says why: the last error naming ``student``, else the last error."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "Error" in line]
    theirs = [line for line in errors if student and f"/{student}/" in line]
    return (theirs or errors or lines or ["nbgrader produced no notebook"])[-1][:300]


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


def course_db_url(course: Path) -> str:
    """The gradebook the course's nbgrader_config.py names (nbgrader's default: gradebook.db beside it)."""
    return _course_settings(course)[0]


def _course_settings(course: Path) -> tuple[str, str]:
    """(db_url, course_id) as nbgrader will see them in ``course``."""
    from traitlets.config.loader import PyFileConfigLoader

    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    except Exception as exc:
        raise SystemExit(f"mpcourse-grade: cannot read {course / 'nbgrader_config.py'}: {type(exc).__name__}: {exc}")
    settings = config.CourseDirectory if "CourseDirectory" in config else {}
    url = settings.get("db_url") or f"sqlite:///{course / 'gradebook.db'}"
    return str(url), str(settings.get("course_id") or "")


def check_gradebook(db_url: str, course_id: str) -> None:
    """nbgrader's default course_id "" breaks a foreign key that only SQLite leaves unchecked: say so first."""
    if not db_url.startswith("sqlite") and not course_id:
        raise ValueError(f"the gradebook {db_url.split('://')[0]}://... needs a course id: add "
                         "c.CourseDirectory.course_id = \"<your course>\" to nbgrader_config.py (nbgrader's default "
                         "\"\" only works with SQLite, which does not check the assignment's foreign key)")


def make_template(course: Path, assignment: str, db_url: str) -> bytes:
    """Config + source + a private SQLite gradebook that knows the assignment (never the real one)."""
    with tempfile.TemporaryDirectory(prefix="mpcourse-template-") as tmp:
        tmp_path = Path(tmp)
        shutil.copy(course / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
        shutil.copytree(course / "source" / assignment, tmp_path / "source" / assignment)
        gradebook = course / "gradebook.db"
        if db_url == f"sqlite:///{gradebook}" and gradebook.exists():
            _copy_sqlite(gradebook, tmp_path / "gradebook.db")
        else:                                           # e.g. PostgreSQL: build the assignment's rows afresh
            result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force",
                                     _scratch_db(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                                    env=_nbgrader_env({}))
            if result.returncode != 0:
                raise SystemExit(f"could not prepare the assignment: {_last_error(result.stdout + result.stderr)}")
            shutil.rmtree(tmp_path / "release", ignore_errors=True)
        return pack({"nbgrader_config.py": tmp_path / "nbgrader_config.py", "source": tmp_path / "source",
                     "gradebook.db": tmp_path / "gradebook.db"})


def _copy_sqlite(src: Path, dest: Path) -> None:
    import sqlite3

    with sqlite3.connect(src) as source, sqlite3.connect(dest) as target:
        source.backup(target)                           # consistent even if someone else is writing


def record(course: Path, assignment: str, executed: dict[str, bytes], db_url: str,
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
                f"--CourseDirectory.submitted_directory={staging_name}", f"--CourseDirectory.db_url={db_url}"]
        result = subprocess.run(args, cwd=course, capture_output=True, text=True,
                                env=_nbgrader_env({**env, PHASE_VARIABLE: "record"}))
        failures = {}
        for student in executed:
            if not any((course / "autograded" / student / assignment).glob("*.ipynb")):
                failures[student] = _last_error(result.stdout + result.stderr)
        return failures
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ----------------------------------------------------------------------------------
# the cluster: TLS always, unless the instructor says the network is trusted

def cluster_security(scheduler: str | None, ca_file: str | None = None, cert: str | None = None,
                     key: str | None = None, insecure: bool = False):
    """The Dask ``Security`` for this run; ``ValueError`` says what an instructor must change."""
    from distributed.security import Security

    files = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    given = {flag: path for flag, path in files.items() if path}
    if scheduler is None:
        if given:
            raise ValueError(f"{', '.join(given)}: only with --scheduler tls://... (a local cluster makes its own "
                             "certificates)")
        return Security.temporary()                     # in memory, for this run only
    protocol = scheduler.split("://", 1)[0] if "://" in scheduler else "tcp"
    if protocol != "tls":
        if not insecure:
            raise ValueError(
                f"refusing the unencrypted scheduler {scheduler}: whoever can reach a plain {protocol}:// Dask "
                "scheduler can read the students' submissions and run any code on the workers. Start the cluster "
                "with TLS and use --scheduler tls://host:port with --tls-ca-file/--tls-cert/--tls-key (or Dask's "
                "distributed.comm.tls configuration); pass --insecure only on a network you trust.")
        return Security()
    if given:
        for flag in ("--tls-ca-file", "--tls-cert"):
            if not files[flag]:
                raise ValueError(f"{flag} is needed too: TLS here is mutual (the CA that signed the cluster's "
                                 "certificates, and this client's certificate signed by it)")
        for flag, path in given.items():
            if not Path(path).is_file():
                raise ValueError(f"{flag} {path}: no such file")
        return Security(tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key, require_encryption=True)
    security = Security(require_encryption=True)       # distributed.comm.tls.* from Dask's configuration
    if not (security.tls_ca_file and security.tls_client_cert):
        raise ValueError(f"{scheduler} needs TLS files: pass --tls-ca-file, --tls-cert and --tls-key, or set "
                         "distributed.comm.tls.ca-file and distributed.comm.tls.client.cert/.key in Dask's "
                         "configuration")
    return security


def connect(scheduler: str | None, workers: int | None, security):
    """(client, local cluster or None); a scheduler that cannot be reached is a clear exit, not a traceback."""
    from dask.distributed import Client, LocalCluster

    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or max(1, (os.cpu_count() or 2) // 2), threads_per_worker=1,
                               processes=True, dashboard_address=None, security=security)
        return Client(cluster, security=security), cluster
    try:
        return Client(scheduler, security=security), None
    except (OSError, TimeoutError, ValueError) as exc:
        hint = ("did the CA in --tls-ca-file sign its certificate and yours?" if scheduler.startswith("tls://")
                else "does it expect TLS? then use tls:// and certificates")
        raise SystemExit(f"mpcourse-grade: cannot connect to the Dask scheduler at {scheduler}: {exc}\n"
                         f"(is it running? {hint})")


def grade_class(course: Path, assignment: str, workers: int | None = None, scheduler: str | None = None,
                students: list[str] | None = None, force: bool = False, db_url: str | None = None,
                progress: bool = True, security=None, unsafe_no_sandbox: bool = False,
                worker_wait: float = 120.0, batch: int | None = None) -> dict[str, str]:
    """Grade every submission of ``assignment``; returns {student: why} for those not graded.

    ``security`` defaults to :func:`cluster_security` for ``scheduler`` (TLS files from Dask's config).
    """
    from concurrent.futures import CancelledError

    from distributed import wait
    from tqdm import tqdm

    course = course.resolve()
    todo = find_students(course, assignment, students or [], force)
    if not todo:
        return {}
    if security is None:
        try:
            security = cluster_security(scheduler)
        except ValueError as exc:
            raise SystemExit(f"mpcourse-grade: {exc}")
    db_url = db_url or course_db_url(course)
    env = {k: os.environ[k] for k in FORWARDED if k in os.environ}
    if unsafe_no_sandbox:
        env[NO_SANDBOX_VARIABLE] = "1"
    client, cluster = connect(scheduler, workers, security)
    failures: dict[str, str] = {}
    executed: dict[str, bytes] = {}
    try:
        if scheduler:
            try:
                client.wait_for_workers(1, timeout=worker_wait)
            except TimeoutError:
                raise SystemExit(f"mpcourse-grade: the scheduler at {scheduler} has no worker "
                                 f"(waited {worker_wait:.0f} s)")
        print(f"grading {len(todo)} submission(s) of {assignment} on {client.scheduler.address} "
              f"({len(client.scheduler_info()['workers'])} worker(s))", file=sys.stderr)
        template = make_template(course, assignment, db_url)   # in every task (small): a task never depends
        slots = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())   # on data that
        owners = {}                                             # a lost worker took with it
        for group in batches(todo, slots, batch):
            future = client.submit(execute_batch, template,
                                   {s: pack({".": course / "submitted" / s / assignment}) for s in group},
                                   assignment, env, key=f"grade-{assignment}-{group[0]}-{uuid.uuid4().hex[:6]}",
                                   pure=False, retries=1)
            owners[future] = group
        bar = tqdm(total=len(todo), unit="student", desc=f"grading {assignment}", file=sys.stderr,
                   disable=None if progress else True)       # None: no bar when stderr is not a terminal
        pending, alone_since = set(owners), None
        while pending:
            try:
                wait(pending, timeout=5, return_when="FIRST_COMPLETED")
            except (TimeoutError, CancelledError):      # nothing finished in 5 s, or the scheduler dropped a task
                pass
            done = {future for future in pending if future.done()}
            pending -= done
            for future in done:
                for student, ok, payload in _outcomes(future, owners[future]):
                    if ok:
                        executed[student] = payload
                    else:
                        failures[student] = str(payload)
                        bar.write(f"{student}: NOT GRADED: {payload}", file=sys.stderr)
                    bar.update(1)
            if done or client.scheduler_info()["workers"]:
                alone_since = None
            elif alone_since is None:
                alone_since = time.monotonic()
            elif time.monotonic() - alone_since > worker_wait:   # every worker lost: stop waiting
                for future in pending:
                    for student in owners[future]:
                        failures[student] = f"no Dask worker left for {worker_wait:.0f} s"
                        bar.write(f"{student}: NOT GRADED: {failures[student]}", file=sys.stderr)
                client.cancel(list(pending))
                pending = set()
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    for student, why in record(course, assignment, executed, db_url, env).items():
        failures[student] = why
        print(f"{student}: NOT GRADED: {why}", file=sys.stderr)
    return failures


def _outcomes(future, students: list[str]) -> list[tuple[str, bool, bytes | str]]:
    try:
        return future.result()
    except Exception as exc:                            # killed its worker twice, raised, or cancelled
        return [(student, False, f"{type(exc).__name__}: {exc}") for student in students]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mpcourse-grade", description=(
        "Autograde every submission of an assignment in parallel (Dask, TLS), into nbgrader's gradebook."))
    parser.add_argument("assignment")
    parser.add_argument("--course", default=".", help="the course folder (with nbgrader_config.py); default: here")
    parser.add_argument("--workers", type=int, default=None, help="local workers (default: half the CPUs)")
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler, tls://host:port (default: a local "
                        "cluster with its own temporary certificates)")
    parser.add_argument("--tls-ca-file", default=None, help="PEM: the CA that signed the cluster's certificates")
    parser.add_argument("--tls-cert", default=None, help="PEM: this client's certificate (signed by that CA)")
    parser.add_argument("--tls-key", default=None, help="PEM: this client's private key")
    parser.add_argument("--insecure", action="store_true", help="allow a plain tcp:// scheduler (a trusted network "
                        "only: anyone who reaches it can read submissions and run code on the workers)")
    parser.add_argument("--student", action="append", default=[], help="grade only this student (repeatable)")
    parser.add_argument("--force", action="store_true", help="grade again students already autograded")
    parser.add_argument("--db", default=None, help="gradebook URL (default: the one nbgrader_config.py names, "
                        "else the course's gradebook.db)")
    parser.add_argument("--report", action="store_true", help="then write reports/<assignment>.html and .png "
                        "(see mpcourse-report)")
    parser.add_argument("--unsafe-no-sandbox", action="store_true", help=(
        f"run students' kernels without the grader's sandbox (sets {NO_SANDBOX_VARIABLE}=1 for every nbgrader "
        "process): only for machines that cannot create one, and only for code you trust"))
    parser.add_argument("--worker-wait", type=float, default=120.0, metavar="SECONDS", help=(
        "how long to wait for a worker to join, or to come back when all are lost (default: 120)"))
    parser.add_argument("--batch", type=int, default=None, metavar="N", help=(
        "students per nbgrader run on a worker (default: about two runs per worker thread)"))
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    course = Path(args.course)
    if not (course / "nbgrader_config.py").is_file() or not (course / "source" / args.assignment).is_dir():
        parser.error(f"{course.resolve()} is not a course with source/{args.assignment} and nbgrader_config.py")
    configured_db, course_id = _course_settings(course.resolve())
    try:
        security = cluster_security(args.scheduler, args.tls_ca_file, args.tls_cert, args.tls_key, args.insecure)
        check_gradebook(args.db or configured_db, course_id)
    except ValueError as exc:
        parser.error(str(exc))
    if args.batch is not None and args.batch < 1:
        parser.error("--batch must be at least 1")
    if args.insecure and args.scheduler and not args.scheduler.startswith("tls://"):
        print(f"mpcourse-grade: WARNING: {args.scheduler} is not encrypted (--insecure)", file=sys.stderr)
    started = time.monotonic()
    failures = grade_class(course, args.assignment, workers=args.workers, scheduler=args.scheduler,
                           students=args.student, force=args.force, db_url=args.db, progress=not args.quiet,
                           security=security, unsafe_no_sandbox=args.unsafe_no_sandbox,
                           worker_wait=args.worker_wait, batch=args.batch)
    took = time.monotonic() - started
    print(f"graded {args.assignment} in {took:.1f} s; {len(failures)} submission(s) not graded", file=sys.stderr)
    if args.report:
        from mpcourse.report import write_report

        html, png = write_report(course.resolve(), args.assignment, args.db or configured_db)
        print(f"report: {html} and {png}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
