"""The checks of 01_processes and 02_daemons, called directly (no nbgrader): fast feedback on the judges.

Each case loads one answer of the corpus, calls one check and expects it to pass, or to
fail with a sentence that names the mistake. The start methods take turns across cases;
the end-to-end test (test_assignments.py) runs every case under every start method.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from course import START_METHODS
from mpcourse.checks import daemons, processes
from student_code import define, expect_verdict, sections

CORPUS = Path(__file__).resolve().parent / "corpus"

#: (assignment, corpus file, answer grade_id, name the answer defines, check, None or a phrase of the failure)
CASES = [
    ("01_processes", "reference", "run_all", "run_all", processes.check_run_all_exit_codes, None),
    ("01_processes", "reference", "run_all", "run_all", processes.check_run_all_runs_children_at_once, None),
    ("01_processes", "alt_sentinels_and_pow", "run_all", "run_all", processes.check_run_all_keeps_every_exit_code,
     None),
    ("01_processes", "run_instead_of_start", "run_all", "run_all", processes.check_run_all_exit_codes,
     "ran the target in the calling process"),
    ("01_processes", "start_join_in_loop", "run_all", "run_all", processes.check_run_all_runs_children_at_once,
     "one after another"),
    ("01_processes", "return_before_join", "run_all", "run_all", processes.check_run_all_exit_codes,
     "returned [None, None, None]"),
    ("01_processes", "reference", "square_worker", "SquareWorker", processes.check_square_worker_works_in_the_child,
     None),
    ("01_processes", "no_super_init", "square_worker", "SquareWorker", processes.check_square_worker_squares,
     "never calls super().__init__()"),
    ("01_processes", "work_in_init", "square_worker", "SquareWorker", processes.check_square_worker_squares,
     "before start() was called"),
    ("01_processes", "squares_in_init_put_in_run", "square_worker", "SquareWorker",
     processes.check_square_worker_works_in_the_child, "computed in the parent"),
    ("02_daemons", "reference", "start_background", "start_background",
     daemons.check_start_background_returns_a_running_daemon, None),
    ("02_daemons", "reference", "start_background", "start_background",
     daemons.check_start_background_dies_with_its_parent, None),
    ("02_daemons", "daemon_after_start", "start_background", "start_background",
     daemons.check_start_background_returns_a_running_daemon, "cannot change after start()"),
    ("02_daemons", "join_daemon", "start_background", "start_background",
     daemons.check_start_background_returns_a_running_daemon, "do not join() it"),
    ("02_daemons", "not_a_daemon", "start_background", "start_background",
     daemons.check_start_background_dies_with_its_parent, "could not exit"),
    ("02_daemons", "reference", "run_with_deadline", "run_with_deadline",
     daemons.check_run_with_deadline_returns_the_exit_code, None),
    ("02_daemons", "alt_context_and_polling", "run_with_deadline", "run_with_deadline",
     daemons.check_run_with_deadline_stops_a_late_target, None),
    ("02_daemons", "reference", "run_with_deadline", "run_with_deadline",
     daemons.check_run_with_deadline_kills_a_target_that_ignores_sigterm, None),
    ("02_daemons", "terminate_sleep_no_join", "run_with_deadline", "run_with_deadline",
     daemons.check_run_with_deadline_stops_a_late_target, "returned None"),
    ("02_daemons", "no_kill", "run_with_deadline", "run_with_deadline",
     daemons.check_run_with_deadline_kills_a_target_that_ignores_sigterm, "kill() it"),
    ("02_daemons", "terminate_then_join_forever", "run_with_deadline", "run_with_deadline",
     daemons.check_run_with_deadline_kills_a_target_that_ignores_sigterm, "had not returned"),
    ("02_daemons", "deadline_run_not_start", "run_with_deadline", "run_with_deadline",
     daemons.check_run_with_deadline_returns_the_exit_code, "ran the target in the calling process"),
]


def _answer(assignment: str, student: str, gid: str, name: str):
    source = sections(CORPUS / assignment / f"{student}.py").get(gid) or \
        sections(CORPUS / assignment / "reference.py")[gid]
    return define(source)[name]


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)),
                         ids=[f"{c[1]}-{c[4].__name__}" for c in CASES])
def test_check(index, case):
    assignment, student, gid, name, check_fn, phrase = case
    expect_verdict(check_fn, _answer(assignment, student, gid, name), phrase, START_METHODS[index % len(START_METHODS)])
