"""Deadlines: a stuck child tree is reported in the student's words, then killed to the last process."""
from __future__ import annotations

import multiprocessing
import os
import re
import time

import psutil
import pytest
from course import START_METHODS
from children import exit_abruptly, start_grandchildren_that_spin, withdraw_with_deadlocked_child
from mpcourse import DeadlineExceeded, call_with_deadline
from mpcourse.runner import ChildDied


@pytest.fixture(params=START_METHODS)
def start_method(request):
    old = multiprocessing.get_start_method()
    multiprocessing.set_start_method(request.param, force=True)
    yield request.param
    multiprocessing.set_start_method(old, force=True)


def _descendants() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_double_acquire_is_reported_and_the_tree_killed(start_method):
    before = _descendants()
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as info:
        call_with_deadline(withdraw_with_deadlocked_child, timeout=3, label="withdraw")
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert message.startswith("`withdraw` did not finish in 3 s")
    assert "is stuck at `lock.acquire()` in `take_lock_twice`" in message
    assert elapsed < 3 + 5, f"took {elapsed:.1f} s to report and kill"
    pids = [int(p) for p in re.findall(r"pid (\d+)", message)]
    assert len(pids) == 2
    assert not any(_alive(pid) for pid in pids)
    left = {pid for pid in _descendants() - before if _alive(pid)}
    helpers = {pid for pid in left if "multiprocessing" in " ".join(psutil.Process(pid).cmdline())
               and psutil.Process(pid).ppid() == os.getpid()}
    assert left - helpers == set()


def test_busy_grandchildren_are_killed_too(start_method):
    before = _descendants()
    with pytest.raises(DeadlineExceeded):
        call_with_deadline(start_grandchildren_that_spin, 3, timeout=2)
    left = {pid for pid in _descendants() - before if _alive(pid)}
    assert all("multiprocessing" in " ".join(psutil.Process(pid).cmdline()) for pid in left)


def test_results_and_exceptions_come_back():
    assert call_with_deadline(divmod, 17, 5, timeout=30) == (3, 2)
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(divmod, 1, 0, timeout=30)


def test_a_child_that_exits_abruptly_is_a_clear_error():
    with pytest.raises(ChildDied, match="exit code 7"):
        call_with_deadline(exit_abruptly, timeout=30)


def test_the_watchdog_blames_an_earlier_cells_processes_not_the_cell_that_runs():
    """A cell may leave processes that multiply later (a fork bomb on a timer, a slow machine).

    When they reach the process limit while a later cell runs, only the processes that earlier
    cells started are killed: restarting the kernel would cost the running cell its answer (CI: a
    storm from a withdraw cell reached the limit during the transfer cell, and transfer got 0).
    """
    import subprocess
    import sys
    from types import SimpleNamespace

    from mpcourse.grading import GradingExecute, _now_since_boot
    from mpcourse.runner import kill_tree

    script = ("import subprocess, time\n"
              "early = subprocess.Popen(['sleep', '60'])\n"
              "time.sleep(0.5)\n"
              "print('a later cell begins', flush=True)\n"
              "time.sleep(0.5)\n"
              "late = subprocess.Popen(['sleep', '60'])\n"
              "print(early.pid, late.pid, flush=True)\n"
              "time.sleep(60)\n")
    kernel = subprocess.Popen([sys.executable, "-c", script, "ipykernel"], stdout=subprocess.PIPE, text=True)
    try:
        assert kernel.stdout.readline().strip() == "a later cell begins"
        began = _now_since_boot()
        early, late = (psutil.Process(int(pid)) for pid in kernel.stdout.readline().split())
        executor = SimpleNamespace(_cell_began=began)
        assert GradingExecute._kill_earlier_cells_processes(executor, kernel.pid)
        early.wait(5) if early.status() != psutil.STATUS_ZOMBIE else None
        assert not early.is_running() or early.status() == psutil.STATUS_ZOMBIE
        assert late.is_running() and late.status() != psutil.STATUS_ZOMBIE
        assert kernel.poll() is None
        assert not GradingExecute._kill_earlier_cells_processes(SimpleNamespace(_cell_began=None), kernel.pid)
    finally:
        kill_tree(kernel.pid)
        kernel.wait()
