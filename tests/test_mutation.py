"""The mutation-testing script's parts: the mutator, and one stress oracle on a right and a wrong answer.

The full run (every mutant through the oracles and the grader) is ``scripts/mutation.py``, outside CI.
"""
from __future__ import annotations

import re
import ast
import sys
import uuid
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from course import CORPUS, read_student  # noqa: E402
from mutants.mutator import mutants, unified_diff  # noqa: E402
from mutants.trials import run_trials  # noqa: E402

LOCKS = read_student(CORPUS / "03_locks" / "reference.py").sections
WITHDRAW = LOCKS["withdraw"]


def program(withdraw: str) -> str:
    return "\n\n".join(withdraw if gid == "withdraw" else source for gid, source in LOCKS.items())


def test_mutants_compile_differ_and_include_the_lock_mistakes():
    found = mutants(WITHDRAW)
    sources = [ast.dump(ast.parse(m.source)) for m in found]
    assert len(set(sources)) == len(sources)
    assert ast.dump(ast.parse(WITHDRAW)) not in sources
    for m in found:
        compile(m.source, m.description, "exec")
    by_operator = {m.operator: m for m in found}
    assert "with lock" not in by_operator["drop-with"].source
    assert "_read = account.get()" in by_operator["hoist-read"].source          # the read before the lock
    assert "lock.acquire()" in by_operator["with-to-acquire"].source
    assert "multiprocessing.Lock()" in by_operator["private-lock"].source
    assert "+    account.set(account.get() - amount)" in unified_diff(WITHDRAW, by_operator["drop-with"].source)


def test_generic_operators_reach_the_mistakes_the_spec_names():
    source = (
        "import multiprocessing, struct\n"
        "def go(q, conns):\n"
        "    p = multiprocessing.Process(target=print)\n"
        "    p.start()\n"
        "    for c in conns:\n"
        "        c.sendall(struct.pack('!I', 4))\n"
        "    q.put(1, block=False)\n"
        "    p.join()\n"
    )
    descriptions = {re.sub(r" \(line \d+\)$", "", m.description) for m in mutants(source)}
    assert "`.start(...)` -> `.run(...)`" in descriptions
    assert "`.sendall(...)` -> `.send(...)`" in descriptions
    assert "`'!I'` -> `'<I'`" in descriptions
    assert "add `daemon=True` to `Process(...)`" in descriptions
    assert "drop `block=False` from `q.put(...)`" in descriptions
    assert "remove `p.join()`" in descriptions
    assert any(d.startswith("swap `q.put(1, block=False)` and `p.join()`") for d in descriptions)


def test_withdraw_oracle_passes_the_reference_and_catches_a_lockless_withdraw():
    assert not run_trials("03_locks", "withdraw", program(WITHDRAW), 4, stop_early=False).violations
    lockless = "def withdraw(lock, account, amount):\n    account.set(account.get() - amount)\n"
    report = run_trials("03_locks", "withdraw", program(lockless), 6)
    assert report.wrong and report.violations[0]["clause"] == "loses an update"


def test_a_trial_leaves_no_process_behind(monkeypatch):
    """A withdraw that leaves a process in a session of its own: the trial worker still kills it."""
    mark = uuid.uuid4().hex
    monkeypatch.setenv("MUTATION_TEST_MARK", mark)
    leaky = ("import subprocess\n"
             "def withdraw(lock, account, amount):\n"
             "    with lock:\n"
             "        account.set(account.get() - amount)\n"
             "    subprocess.Popen(['sleep', '600'], start_new_session=True)\n")
    report = run_trials("03_locks", "withdraw", program(leaky), 1)
    assert report.runs == 1 and not report.error
    left = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("MUTATION_TEST_MARK") == mark:
                left.append(proc)
        except psutil.Error:
            continue
    for proc in left:
        proc.kill()
    assert not left, f"left running: {left}"


@pytest.mark.parametrize("exercise", ["book_ticket", "transfer"])
def test_lock_oracles_pass_the_reference(exercise):
    assert not run_trials("03_locks", exercise, program(WITHDRAW), 2, stop_early=False).violations


def test_collect_oracle_counts_the_calls_of_target():
    """A collect that starts one process too many (``range(n + 1)``) still returns n results: only counting
    the calls of ``target`` shows it breaks "start n processes target(q, i)"."""
    queues = read_student(CORPUS / "05_queues" / "reference.py").sections
    collect = queues["collect"]
    assert "range(n)" in collect

    def with_collect(source: str) -> str:
        return "\n\n".join(source if gid == "collect" else s for gid, s in queues.items())

    assert not run_trials("05_queues", "collect", with_collect(collect), 2, stop_early=False).violations
    report = run_trials("05_queues", "collect", with_collect(collect.replace("range(n)", "range(n + 1)", 1)), 2)
    assert report.wrong and report.violations[0]["clause"] == "target not called once per i in range(n)"


def test_producer_consumer_oracles_call_a_process_never_joined_wrong():
    """``terminate()`` without ``join()`` (the spec's mistake) leaves nothing running, so the leftover check
    called it correct and the grader's joinable/not-joined a refused correct mutant; the oracles now count
    the caller's children that ended unjoined (zombies: trials run under fork)."""
    pc = read_student(CORPUS / "06_producer_consumer" / "reference.py").sections
    wrong = read_student(CORPUS / "06_producer_consumer" / "mut_joinable_terminate_without_join.py").sections

    def with_joinable(source: str) -> str:
        return "\n\n".join(source if gid == "joinable_pipeline" else s for gid, s in pc.items())

    assert not run_trials("06_producer_consumer", "joinable_pipeline", with_joinable(pc["joinable_pipeline"]), 2,
                          stop_early=False).violations
    report = run_trials("06_producer_consumer", "joinable_pipeline", with_joinable(wrong["joinable_pipeline"]), 2)
    assert report.wrong and report.violations[0]["clause"] == "returns without joining"
