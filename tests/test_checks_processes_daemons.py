"""The checks of 01_processes and 02_daemons, called directly (no nbgrader): each mistake fails with its
sentence and its id, each correct style passes.

Answers come from the corpus (``tests/corpus/<assignment>/<file>.py``) or, for mistakes no
corpus file makes first, from ``INLINE`` below. The start methods take turns across cases
(a case may name its own; set MPCOURSE_DIRECT_START_METHOD to run every other case under
one); the end-to-end test (test_assignments.py) grades every corpus file under fork and spawn.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from course import START_METHODS
from mpcourse.checks import daemons, processes
from student_code import STARVE, define, expect_verdict, sections

CORPUS = Path(__file__).resolve().parent / "corpus"

#: answers that show a mistake no corpus file reaches first (each is one answer cell)
INLINE = {
    "run_all starved after a short join": STARVE + '''
import multiprocessing

def run_all(target, arg_tuples):
    procs = [multiprocessing.Process(target=target, args=args) for args in arg_tuples]
    for p in procs:
        p.start()
    for p in procs[1:]:
        p.join()
    procs[0].join(timeout=0.1)
    _starved(3)
    return [p.exitcode for p in procs]
''',
    "run_with_deadline starved after terminate": STARVE + '''
import multiprocessing

def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        _starved(5)
    return p.exitcode
''',
    "run_all twice for the first tuple": '''
import multiprocessing

def run_all(target, arg_tuples):
    procs = [multiprocessing.Process(target=target, args=args) for args in arg_tuples]
    procs += [multiprocessing.Process(target=target, args=arg_tuples[0])]     # "a second try" of the first
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return [p.exitcode for p in procs[:len(arg_tuples)]]
''',
    "run_all raises": '''
def run_all(target, arg_tuples):
    raise ValueError("no processes today")
''',
    "run_all hangs": '''
import time

def run_all(target, arg_tuples):
    while True:
        time.sleep(0.1)
''',
    "run_all generator": '''
import multiprocessing

def run_all(target, arg_tuples):
    procs = [multiprocessing.Process(target=target, args=args) for args in arg_tuples]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return (p.exitcode for p in procs)
''',
    "SquareWorker doubles": '''
import multiprocessing, os

class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.numbers, self.out_queue = numbers, out_queue

    def run(self):
        self.out_queue.put((os.getpid(), [n + n for n in self.numbers]))
''',
    "SquareWorker plain class": '''
import os

class SquareWorker:
    def __init__(self, numbers, out_queue):
        self.numbers, self.out_queue = numbers, out_queue

    def start(self):
        self.out_queue.put((os.getpid(), [n * n for n in self.numbers]))
''',
    "SquareWorker refuses an empty list": '''
import multiprocessing, os

class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        if not numbers:
            raise ValueError("nothing to square")
        super().__init__()
        self.numbers, self.out_queue = numbers, out_queue

    def run(self):
        self.out_queue.put((os.getpid(), [n * n for n in self.numbers]))
''',
    "SquareWorker exits with 1": '''
import multiprocessing, os, sys

class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.numbers, self.out_queue = numbers, out_queue

    def run(self):
        self.out_queue.put((os.getpid(), [n * n for n in self.numbers]))
        sys.exit(1)
''',
    "SquareWorker waits for itself": '''
import multiprocessing, os

class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.numbers, self.out_queue = numbers, out_queue
        self.ready = multiprocessing.Event()
        self.ready.wait()                       # set by run(), which cannot run before start()

    def run(self):
        self.ready.set()
        self.out_queue.put((os.getpid(), [n * n for n in self.numbers]))
''',
    "start_background raises": '''
def start_background(target, args=()):
    raise OSError("no background jobs here")
''',
    "start_background never starts": '''
import multiprocessing

def start_background(target, args=()):
    return multiprocessing.Process(target=target, args=args, daemon=True)
''',
    "start_background ignores the target": '''
import multiprocessing, time

def start_background(target, args=()):
    p = multiprocessing.Process(target=time.sleep, args=(60,), daemon=True)
    p.start()
    return p
''',
    "start_background drops an arg": '''
import multiprocessing

def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=tuple(args)[:1], daemon=True)
    p.start()
    return p
''',
    "start_background stops the job": '''
import multiprocessing, time

def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args, daemon=True)
    p.start()
    time.sleep(2.5)
    p.terminate()
    p.join()
    return p
''',
    "start_background detaches the job": '''
import multiprocessing

def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args, daemon=True)
    p.start()
    multiprocessing.process._children.discard(p)    # "detached": nobody terminates it any more
    return p
''',
    "run_with_deadline whose first child stalls": '''
import multiprocessing

def _stall_then_run(target, args, stall):
    if stall:        # a loaded machine, simulated: the target's 0.05 s of work takes 4 s more, once
        import mpcourse.checks.daemons as course
        sleep = course.sleep_in_steps
        course.sleep_in_steps = lambda seconds: sleep(seconds + stall)
    target(*args)

_calls = []

def run_with_deadline(target, args, timeout):
    _calls.append(timeout)
    p = multiprocessing.Process(target=_stall_then_run, args=(target, args, 4.0 if len(_calls) == 1 else 0.0))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join(1)
        if p.is_alive():
            p.kill()
        p.join()
    return p.exitcode
''',
    "run_with_deadline starved once after its join": STARVE + '''
import multiprocessing

_calls = []

def run_with_deadline(target, args, timeout):
    _calls.append(timeout)
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join(1)
        if p.is_alive():
            p.kill()
        p.join()
    if len(_calls) == 1:
        _starved(2.5)          # a loaded machine, simulated: the caller gets no CPU for a while, once
    return p.exitcode
''',
    "run_with_deadline raises": '''
def run_with_deadline(target, args, timeout):
    raise RuntimeError("deadline missed")
''',
    "run_with_deadline runs something else": '''
import multiprocessing

def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=print, args=("working",))
    p.start()
    p.join(timeout)
    return p.exitcode
''',
    "run_with_deadline two children": '''
import multiprocessing

def run_with_deadline(target, args, timeout):
    procs = [multiprocessing.Process(target=target, args=args) for _ in range(2)]     # one spare
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout)
        if p.is_alive():
            p.kill()
            p.join()
    return procs[0].exitcode
''',
    "run_with_deadline returns a bool": '''
import multiprocessing

def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join()
    return p.exitcode == 0
''',
    "run_with_deadline stops early": '''
import multiprocessing

def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout / 4)
    if p.is_alive():
        p.kill()
        p.join()
    return p.exitcode
''',
    "run_with_deadline dawdles": '''
import multiprocessing, time

def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
    p.join()
    time.sleep(timeout * 1.5)
    return p.exitcode
''',
}

P, D = processes, daemons
#: (assignment, corpus file or INLINE key, answer grade_id, name the answer defines, check, phrase or None,
#:  mistake id or None, start method or None)
CASES = [
    # run_all
    ("01_processes", "reference", "run_all", "run_all", P.check_run_all_runs_children_at_once, None, None, None),
    ("01_processes", "alt_sentinels_and_pow", "run_all", "run_all", P.check_run_all_many_at_once, None, None, None),
    ("01_processes", "alt_cell_level_locks", "run_all", "run_all", P.check_run_all_runs_children_at_once, None, None,
     "spawn"),
    ("01_processes", "alt_subclass_polling_and_target_style", "run_all", "run_all", P.check_run_all_with_no_tuples,
     None, None, None),
    ("01_processes", "run_instead_of_start", "run_all", "run_all", P.check_run_all_runs_children_at_once,
     "ran the target in the calling process", "run_all/run-not-start", None),
    ("01_processes", "start_join_in_loop", "run_all", "run_all", P.check_run_all_runs_children_at_once,
     "never all ran at the same time", "run_all/not-concurrent", None),
    ("01_processes", "two_at_a_time", "run_all", "run_all", P.check_run_all_many_at_once,
     "never all ran at the same time", "run_all/not-concurrent", None),
    ("01_processes", "return_before_join", "run_all", "run_all", P.check_run_all_runs_children_at_once,
     "returned [None, None, None] while 3 of its children were still running", "run_all/returned-early", None),
    ("01_processes", "mut_join_timeout_tenth", "run_all", "run_all", P.check_run_all_many_at_once,
     "call p.join() (with no timeout) on every process", "run_all/returned-early", None),
    # alone, the one child also outlives a short join (it passed in 1 of 3 runs under forkserver, as a hidden test)
    ("01_processes", "mut_join_timeout_tenth", "run_all", "run_all", P.check_run_all_with_no_tuples,
     "call p.join() (with no timeout) on every process", "run_all/returned-early", "forkserver"),
    ("01_processes", "join_with_short_timeout", "run_all", "run_all", P.check_run_all_with_no_tuples,
     "call p.join() (with no timeout) on every process", "run_all/returned-early", "fork"),
    ("01_processes", "run_all starved after a short join", "run_all", "run_all", P.check_run_all_many_at_once,
     "call p.join() (with no timeout) on every process", "run_all/returned-early", None),
    ("01_processes", "join_tenth_then_sleep", "run_all", "run_all", P.check_run_all_many_at_once,
     "call p.join() (with no timeout) on every process", "run_all/returned-early", None),
    ("01_processes", "alt_threads_join_for_it", "run_all", "run_all", P.check_run_all_many_at_once, None, None, None),
    ("01_processes", "alt_subclass_polling_and_target_style", "run_all", "run_all", P.check_run_all_many_at_once,
     None, None, None),
    ("01_processes", "codes_in_end_order", "run_all", "run_all", P.check_run_all_runs_children_at_once,
     "not the order in which they ended", "run_all/wrong-codes", None),
    ("01_processes", "leaves_a_watchdog", "run_all", "run_all", P.check_run_all_runs_children_at_once,
     "were still running", "run_all/left-running", "forkserver"),
    ("01_processes", "run_all twice for the first tuple", "run_all", "run_all", P.check_run_all_runs_children_at_once,
     "start exactly one process per tuple", "run_all/process-count", None),
    ("01_processes", "run_all raises", "run_all", "run_all", P.check_run_all_with_no_tuples,
     "raised ValueError: no processes today", "run_all/raised", None),
    ("01_processes", "run_all hangs", "run_all", "run_all", P.check_run_all_with_no_tuples,
     "is stuck", "run_all/hangs", None),
    ("01_processes", "run_all generator", "run_all", "run_all", P.check_run_all_runs_children_at_once,
     "return the list of the children's exit codes", "run_all/not-a-list", None),
    # SquareWorker
    ("01_processes", "reference", "square_worker", "SquareWorker", P.check_square_worker_works_in_the_child, None,
     None, None),
    ("01_processes", "alt_subclass_polling_and_target_style", "square_worker", "SquareWorker",
     P.check_square_worker_squares, None, None,
     "spawn"),
    ("01_processes", "alt_cell_level_locks", "square_worker", "SquareWorker",
     P.check_square_worker_works_in_the_child, None, None, "forkserver"),
    ("01_processes", "no_super_init", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "never calls super().__init__()", "square_worker/no-super-init", None),
    ("01_processes", "work_in_init", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "before start() was called", "square_worker/work-in-init", None),
    ("01_processes", "squares_in_init_put_in_run", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "were computed in the parent", "square_worker/work-in-init", None),
    ("01_processes", "square_int_in_init", "square_worker", "SquareWorker", P.check_square_worker_works_in_the_child,
     "stored them in self.results", "square_worker/work-in-init", None),
    ("01_processes", "parent_pid_in_result", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "(the parent's pid)", "square_worker/wrong-pid", None),
    ("01_processes", "square_one_put_per_number", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "put exactly one tuple", "square_worker/many-results", None),
    ("01_processes", "square_returns_instead_of_put", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "nothing arrived on out_queue", "square_worker/no-result", None),
    ("01_processes", "SquareWorker doubles", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "expected", "square_worker/wrong-result", None),
    ("01_processes", "SquareWorker plain class", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "not a multiprocessing.Process", "square_worker/not-a-process", None),
    ("01_processes", "SquareWorker refuses an empty list", "square_worker", "SquareWorker",
     P.check_square_worker_works_in_the_child, "raised ValueError: nothing to square", "square_worker/raised", None),
    ("01_processes", "SquareWorker exits with 1", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "ended with exit code 1", "square_worker/exit-code", None),
    ("01_processes", "SquareWorker waits for itself", "square_worker", "SquareWorker", P.check_square_worker_squares,
     "is stuck", "square_worker/hangs", None),
    # start_background
    ("02_daemons", "reference", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, None, None, "forkserver"),     # a fork server child
    ("02_daemons", "alt_cell_event_and_sigkill", "start_background", "start_background",
     D.check_start_background_dies_with_its_parent, None, None, "spawn"),
    ("02_daemons", "alt_subclass_and_polling_loop", "start_background", "start_background",
     D.check_start_background_dies_with_its_parent, None, None, "forkserver"),
    ("02_daemons", "join_daemon", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "do not join() it", "start_background/joins-daemon", None),
    ("02_daemons", "background_run_not_start", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "ran the target in the calling process",
     "start_background/run-not-start", None),
    ("02_daemons", "daemon_after_start", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "cannot change after start()",
     "start_background/daemon-after-start", None),
    ("02_daemons", "not_a_daemon", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "is not a daemon", "start_background/not-daemon", None),
    ("02_daemons", "daemon_after_start_swallowed", "start_background", "start_background",
     D.check_start_background_dies_with_its_parent, "could not exit", "start_background/not-daemon", None),
    ("02_daemons", "background_thread", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "returned a Thread", "start_background/not-a-process", None),
    ("02_daemons", "start_background raises", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "raised OSError: no background jobs here",
     "start_background/raised", None),
    ("02_daemons", "start_background never starts", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "never started", "start_background/not-started", None),
    ("02_daemons", "start_background ignores the target", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "did not run target(*args)", "start_background/no-job", None),
    ("02_daemons", "start_background drops an arg", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "did not pass args", "start_background/args-lost", None),
    ("02_daemons", "start_background stops the job", "start_background", "start_background",
     D.check_start_background_returns_a_running_daemon, "was not alive right after the call",
     "start_background/not-alive", "fork"),
    ("02_daemons", "start_background detaches the job", "start_background", "start_background",
     D.check_start_background_dies_with_its_parent, "still running 3 s after", "start_background/outlives-parent",
     None),
    # run_with_deadline
    ("02_daemons", "run_with_deadline starved after terminate", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "returned None: terminate() only sends SIGTERM",
     "run_with_deadline/exitcode-none", None),
    ("02_daemons", "reference", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, None, None, None),
    ("02_daemons", "alt_cell_event_and_sigkill", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_kills_a_target_that_ignores_sigterm, None, None, None),
    ("02_daemons", "alt_subclass_and_polling_loop", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_returns_the_exit_code, None, None, None),
    ("02_daemons", "terminate_without_join", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "returned None: terminate() only sends SIGTERM",
     "run_with_deadline/exitcode-none", None),
    ("02_daemons", "terminate_then_long_sleep", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "returned None: terminate() only sends SIGTERM",
     "run_with_deadline/exitcode-none", None),
    ("02_daemons", "alt_busy_wait_after_terminate", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, None, None, None),
    ("02_daemons", "alt_busy_wait_after_terminate", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_kills_a_target_that_ignores_sigterm, None, None, None),
    ("02_daemons", "no_kill", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "kill() it", "run_with_deadline/exitcode-none", None),
    ("02_daemons", "deadline_fakes_sigterm_code", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "while its child was still running",
     "run_with_deadline/child-left-running", None),
    ("02_daemons", "deadline_no_terminate", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "left the child running", "run_with_deadline/no-terminate", None),
    ("02_daemons", "mut_deadline_kill_not_terminate", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "without ever sending it SIGTERM: terminate() it first",
     "run_with_deadline/no-terminate", None),
    ("02_daemons", "mut_deadline_only_kill", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "without ever sending it SIGTERM: terminate() it first",
     "run_with_deadline/no-terminate", None),
    ("02_daemons", "mut_deadline_only_kill", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_kills_a_target_that_ignores_sigterm, "without ever sending it SIGTERM",
     "run_with_deadline/no-terminate", None),
    ("02_daemons", "deadline_long_grace_no_kill", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_kills_a_target_that_ignores_sigterm, "kill() it", "run_with_deadline/no-kill", None),
    ("02_daemons", "join_without_timeout", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "had not returned", "run_with_deadline/hangs", None),
    ("02_daemons", "deadline_run_not_start", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_returns_the_exit_code, "ran the target in the calling process",
     "run_with_deadline/run-not-start", None),
    ("02_daemons", "daemon_child_for_deadline", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "in a daemon process", "run_with_deadline/daemon-child", None),
    ("02_daemons", "run_with_deadline whose first child stalls", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_returns_the_exit_code, None, None, None),
    ("02_daemons", "run_with_deadline starved once after its join", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_returns_the_exit_code, None, None, None),
    ("02_daemons", "always_terminates", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_returns_the_exit_code, "return the real exit code", "run_with_deadline/wrong-code",
     None),
    ("02_daemons", "run_with_deadline raises", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_returns_the_exit_code, "raised RuntimeError: deadline missed",
     "run_with_deadline/raised", None),
    ("02_daemons", "run_with_deadline runs something else", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_returns_the_exit_code, "never ran the target in a child process",
     "run_with_deadline/no-child", None),
    ("02_daemons", "run_with_deadline two children", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_returns_the_exit_code, "start exactly one child", "run_with_deadline/process-count",
     None),
    ("02_daemons", "run_with_deadline returns a bool", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "return the child's exit code (an int",
     "run_with_deadline/not-an-int", None),
    ("02_daemons", "run_with_deadline stops early", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_stops_a_late_target, "before the", "run_with_deadline/stopped-early", None),
    ("02_daemons", "run_with_deadline dawdles", "run_with_deadline", "run_with_deadline",
     D.check_run_with_deadline_returns_the_exit_code, "after the target had ended", "run_with_deadline/too-slow",
     None),
]


def _answer(assignment: str, source: str, gid: str, name: str):
    if source in INLINE:
        return define(INLINE[source])[name]
    text = sections(CORPUS / assignment / f"{source}.py").get(gid) or \
        sections(CORPUS / assignment / "reference.py")[gid]
    return define(text)[name]


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)),
                         ids=[f"{c[1].replace(' ', '_')}-{c[4].__name__.removeprefix('check_')}" for c in CASES])
def test_check(index, case):
    assignment, source, gid, name, check_fn, phrase, mistake, method = case
    method = method or os.environ.get("MPCOURSE_DIRECT_START_METHOD") or START_METHODS[index % len(START_METHODS)]
    expect_verdict(check_fn, _answer(assignment, source, gid, name), phrase, method, mistake=mistake)


def test_every_mistake_id_of_the_checks_is_shown_failing():
    """Each mistake id the two modules can report has a case above (a check that cannot fail is a defect)."""
    import re

    ids = set()
    for module in (processes, daemons):
        ids |= set(re.findall(r'"((?:run_all|square_worker|start_background|run_with_deadline)/[a-z-]+)"',
                              Path(module.__file__).read_text(encoding="utf-8")))
    assert ids - {case[6] for case in CASES} == set()
