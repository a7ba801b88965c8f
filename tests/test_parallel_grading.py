"""``mpcourse-grade`` grades a class on Dask and ends with the gradebook a sequential autograde makes."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from course import (
    FAST_GRADING, REPO, configure, corpus, environment, gradebook_dump, hostile, make_course, nbgrader, submit,
)

ASSIGNMENT = "03_locks"


@pytest.mark.slow
def test_parallel_gradebook_equals_a_sequential_run(tmp_path, monkeypatch):
    """Two workers, two students per nbgrader run: the broken file shares its run with a student graded anyway."""
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
                             "--workers", "2", "--batch", "2", "--force"], capture_output=True, text=True,
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
    assert "on tls://127.0.0.1:" in result.stderr              # the local cluster talks TLS


def _bare_course(tmp_path):
    """A course folder with only the config and one assignment's source (enough for argument checks)."""
    course = tmp_path / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "source" / "01_processes", course / "source" / "01_processes")
    return course


@pytest.mark.parametrize("args, message", [
    (["--scheduler", "tcp://10.1.2.3:8786"], "refusing the unencrypted scheduler tcp://10.1.2.3:8786: whoever can "
                                             "reach a plain tcp:// Dask scheduler can read the students' submissions"),
    (["--scheduler", "10.1.2.3:8786"], "refusing the unencrypted scheduler 10.1.2.3:8786"),
    (["--scheduler", "tls://10.1.2.3:8786"], "tls://10.1.2.3:8786 needs TLS files: pass --tls-ca-file"),
    (["--scheduler", "tls://10.1.2.3:8786", "--tls-cert", "client.pem"], "--tls-ca-file is needed too"),
    (["--scheduler", "tls://10.1.2.3:8786", "--tls-ca-file", "nowhere/ca.pem", "--tls-cert", "nowhere/c.pem"],
     "--tls-ca-file nowhere/ca.pem: no such file"),
    (["--tls-ca-file", "ca.pem"], "--tls-ca-file: only with --scheduler tls://... (a local cluster makes its own"),
    (["--batch", "0"], "--batch must be at least 1"),
])
def test_an_unsafe_or_incomplete_cluster_setting_is_refused_with_the_fix(tmp_path, capsys, monkeypatch, args,
                                                                         message):
    from mpcourse.parallel import main

    for key in [k for k in os.environ if k.startswith("DASK_DISTRIBUTED__COMM__TLS")]:
        monkeypatch.delenv(key)
    course = _bare_course(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["01_processes", "--course", str(course), *args])
    assert exit_.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("students, slots, size, expected", [
    (8, 2, None, [2, 2, 2, 2]),          # about two nbgrader runs per worker thread
    (8, 1, None, [4, 4]),
    (5, 2, None, [2, 2, 1]),
    (1, 4, None, [1]),
    (7, 2, 3, [3, 3, 1]),                # --batch 3
])
def test_students_are_batched_so_nbgrader_starts_about_twice_per_worker(students, slots, size, expected):
    from mpcourse.parallel import batches

    names = [f"s{i}" for i in range(students)]
    groups = batches(names, slots, size)
    assert [len(g) for g in groups] == expected
    assert [s for g in groups for s in g] == names


def test_unsafe_no_sandbox_reaches_every_nbgrader_process(tmp_path, monkeypatch):
    monkeypatch.delenv("MPCOURSE_UNSAFE_NO_SANDBOX", raising=False)      # only the flag can set it
    (tmp_path / "c").mkdir()
    course = make_course(tmp_path / "c", ["01_processes"])
    submit(course, "01_processes", [s for s in corpus("01_processes") if s.id == "reference"])
    log = tmp_path / "environments.jsonl"
    configure(course,
              "import json  # this test only follows the environment of each nbgrader process: run nothing",
              f"with open({str(log)!r}, 'a') as _log:",
              "    _log.write(json.dumps([os.environ.get('MPCOURSE_AUTOGRADE_PHASE'),",
              "                           os.environ.get('MPCOURSE_UNSAFE_NO_SANDBOX')]) + '\\n')",
              "c.Autograde.autograde_preprocessors = []")
    result = subprocess.run([sys.executable, "-m", "mpcourse.parallel", "01_processes", "--course", str(course),
                             "--workers", "1", "--force", "--unsafe-no-sandbox"], capture_output=True, text=True,
                            env=environment(), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on tls://127.0.0.1:" in result.stderr
    assert "%|" not in result.stderr                             # no progress bar when stderr is no terminal
    seen = {tuple(line) for line in map(json.loads, log.read_text().splitlines())}
    assert ("execute", "1") in seen and ("record", "1") in seen, seen     # a worker's nbgrader, and the record's
    assert ("execute", None) not in seen and ("record", None) not in seen, seen
