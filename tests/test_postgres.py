"""A real PostgreSQL gradebook: ``mpcourse-grade --db postgresql+psycopg://...`` ends row for row like SQLite.

The test starts Debian's PostgreSQL server itself (``initdb`` and ``pg_ctl`` as the ``postgres``
user, a temporary data folder, a free port on 127.0.0.1, password authentication) and stops it
by pid even when the test fails. The course is set up as the README tells an instructor: one
``db_url`` line in nbgrader_config.py, the password in ``PGPASSWORD``.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from course import (
    FAST_GRADING, REPO, configure, corpus, environment, gradebook_dump, nbgrader, submit,
)

ASSIGNMENT = "01_processes"
STUDENTS = ("reference", "run_instead_of_start")
PASSWORD = "mpcourse-test-password"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Debian's PostgreSQL server")


@dataclass
class Server:
    url: str
    log: Path
    pid: int


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail("PostgreSQL's server is not installed: run scripts/setup.sh (as root) first")
    return found[-1].parent


def _as_postgres(*args: str) -> list[str]:
    """initdb and the server refuse to run as root: run them as the user Debian's package made."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres(monkeypatch):
    """A PostgreSQL server with an empty database ``course`` owned by ``grader``; stopped by pid afterwards."""
    bin_dir = _postgres_bin()
    folder = Path(tempfile.mkdtemp(prefix="mpc-pg-"))       # short: the server's socket lives here too
    data, log = folder / "data", folder / "server.log"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    (folder / "password").write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(folder / "password", "postgres", "postgres")
    pid, family = None, []
    try:
        subprocess.run(_as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "grader", "-E", "UTF8",
                                    "--auth=scram-sha-256", f"--pwfile={folder / 'password'}", "--no-sync"),
                       check=True, capture_output=True, timeout=120)
        for _ in range(3):                                  # another test may take the port first
            port = _free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off "
                       "-c log_connections=on -c log_line_prefix='app=%a '")
            started = subprocess.run(_as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                                                  "-t", "60", "-o", options, "start"), capture_output=True, timeout=90)
            if (data / "postmaster.pid").exists():
                pid = int((data / "postmaster.pid").read_text().split()[0])
            if started.returncode == 0:
                break
        else:
            pytest.fail(f"PostgreSQL did not start:\n{log.read_text()[-2000:] if log.exists() else started.stderr}")
        family = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        monkeypatch.setenv("PGPASSWORD", PASSWORD)          # libpq (psycopg) reads it: no password in any URL
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "course"],
                       check=True, capture_output=True, timeout=60)
        yield Server(f"postgresql+psycopg://grader@127.0.0.1:{port}/course", log, pid)
    finally:
        if pid is not None:
            subprocess.run(_as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30",
                                        "stop"), capture_output=True, timeout=60)
            if not family and psutil.pid_exists(pid):
                family = [psutil.Process(pid)]
            for proc in family:                              # whatever pg_ctl could not stop: by pid
                try:
                    proc.kill()
                except psutil.Error:
                    pass
            _, alive = psutil.wait_procs(family, timeout=10)
            assert not alive, f"PostgreSQL processes left: {alive}"
        shutil.rmtree(folder, ignore_errors=True)


def _row_counts(url: str) -> dict[str, int]:
    from sqlalchemy import create_engine, func, inspect, select, table

    engine = create_engine(url)
    try:
        with engine.connect() as db:
            return {name: db.execute(select(func.count()).select_from(table(name))).scalar_one()
                    for name in inspect(engine).get_table_names()}
    finally:
        engine.dispose()


def _connections(log: Path) -> list[str]:
    """The application name of every connection the server accepted, in order."""
    return re.findall(r"connection authorized: .*application_name=(\S+)", log.read_text())


def _course(folder: Path, *config_lines: str) -> Path:
    """The repo's config and the assignment's source, a few config lines added, the assignment generated."""
    course = folder / "course"
    course.mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    configure(course, *config_lines)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    return course


COURSE_ID = 'c.CourseDirectory.course_id = "multiprocessing"'     # PostgreSQL needs one (README)


def test_a_postgresql_gradebook_equals_the_sqlite_one(tmp_path, postgres, monkeypatch):
    for key, value in FAST_GRADING.items():
        monkeypatch.setenv(key, value)
    students = [s for s in corpus(ASSIGNMENT) if s.id in STUDENTS]
    sequential = _course(tmp_path / "sqlite", COURSE_ID)
    submit(sequential, ASSIGNMENT, students)
    nbgrader(sequential, "autograde", ASSIGNMENT, "--force", timeout=900)

    course = _course(tmp_path / "postgres", COURSE_ID, f"c.CourseDirectory.db_url = {postgres.url!r}",
                     "import os  # for this test: the server's log names the grading phase that connected",
                     'if os.environ.get("MPCOURSE_AUTOGRADE_PHASE"):',
                     '    os.environ["PGAPPNAME"] = "nbgrader-" + os.environ["MPCOURSE_AUTOGRADE_PHASE"]')
    submit(course, ASSIGNMENT, students)
    before = _connections(postgres.log)
    result = subprocess.run([sys.executable, "-m", "mpcourse.parallel", ASSIGNMENT, "--course", str(course),
                             "--db", postgres.url, "--workers", "2", "--force", "--report"],
                            capture_output=True, text=True, env={**environment(), "PGAPPNAME": "mpcourse-grade"},
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]

    expected = gradebook_dump(sequential, ASSIGNMENT)
    assert sorted(expected) == sorted(STUDENTS)
    assert gradebook_dump(course, ASSIGNMENT, db_url=postgres.url) == expected
    assert _row_counts(postgres.url) == _row_counts(f"sqlite:///{sequential / 'gradebook.db'}")
    assert not (course / "gradebook.db").exists()           # nothing went to a SQLite file on the side
    during = _connections(postgres.log)[len(before):]
    # one writer: the record phase, in this machine; neither workers nor the template touched the database
    assert during and during[0] == "nbgrader-record", during
    assert set(during) == {"nbgrader-record", "mpcourse-grade"}, during   # then the report read it
    report = (course / "reports" / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert f"{len(STUDENTS)} students graded" in report


def test_a_postgresql_gradebook_without_a_course_id_is_refused_with_the_fix(tmp_path, capsys):
    from mpcourse.parallel import main

    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)
    configure(course, 'c.CourseDirectory.course_id = ""')    # nbgrader's default, as in a course set up by hand
    shutil.copytree(REPO / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    args = [ASSIGNMENT, "--course", str(course), "--db", "postgresql+psycopg://grader@127.0.0.1:9/course",
            "--student", "nobody"]                           # nobody has submitted: nothing to connect to
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert 'c.CourseDirectory.course_id = "<your course>"' in err and "Traceback" not in err
    configure(course, COURSE_ID)                             # with the fix, it goes on
    assert main(args) == 0
    assert "course_id" not in capsys.readouterr().err
