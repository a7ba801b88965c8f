"""The judge's instrumented objects make races happen every time, and let correct code through quickly."""
from __future__ import annotations

import multiprocessing

import pytest
from course import START_METHODS
from student_code import define

from mpcourse.checks import handover
from mpcourse.judge import Judge
from mpcourse.shared import Arena, Deadlock
from mpcourse.timeline import spans_of

CODE = define('''
def withdraw_unlocked(lock, account, amount):
    account.set(account.get() - amount)


def withdraw_locked(lock, account, amount):
    with lock:
        account.set(account.get() - amount)


def add_unlocked(total, numbers):
    for n in numbers:
        total.value += n


def add_locked(total, numbers):
    for n in numbers:
        with total.get_lock():
            total.value += n


def take_twice(lock, account, amount):
    with lock:
        with lock:
            pass


def answer(n):
    return ("answer", n, [n] * n)
''')


@pytest.fixture(params=START_METHODS)
def start_method(request):
    old = multiprocessing.get_start_method()
    multiprocessing.set_start_method(request.param, force=True)
    yield request.param
    multiprocessing.set_start_method(old, force=True)


def judge_of(*names: str) -> Judge:
    return Judge(handover("test", tuple(CODE[n] for n in names)))


def test_account_loses_an_update_every_time_without_a_lock(start_method):
    for _ in range(3):
        judge = judge_of("withdraw_unlocked")
        try:
            arena = Arena(judge, 3)
            lock, account = arena.lock(), arena.account("account", 100)
            arena.run(judge.student(0), [(lock, account, 10)] * 3)
            assert account.balance == 90          # all three read 100 before anyone wrote
        finally:
            judge.close()


def test_account_keeps_every_update_with_the_lock(start_method):
    judge = judge_of("withdraw_locked")
    try:
        arena = Arena(judge, 3)
        lock, account = arena.lock(), arena.account("account", 100)
        arena.run(judge.student(0), [(lock, account, 10)] * 3)
        assert account.balance == 70
        holds = [s for s in spans_of(judge.events()) if s.state == "holding"]
        assert len(holds) == 3 and all(a.end <= b.start for a, b in zip(holds, holds[1:]))
    finally:
        judge.close()


def test_counter_behaves_like_a_value(start_method):
    for name, check in (("add_unlocked", lambda v: 0 < v < 66), ("add_locked", lambda v: v == 66)):
        judge = judge_of(name)
        try:
            arena = Arena(judge, 2)
            total = arena.counter("total", 0)
            arena.run(judge.student(0), [(total, [1, 2, 3]), (total, [10, 20, 30])])
            assert check(total.value), (name, total.value)
        finally:
            judge.close()


def test_double_acquire_is_reported_as_a_deadlock_at_once():
    judge = judge_of("take_twice")
    try:
        arena = Arena(judge, 1)
        with pytest.raises(Deadlock, match="waits for 'lock', which it already holds"):
            arena.run(judge.student(0), [(arena.lock(), arena.account("account", 1), 1)], timeout=20)
    finally:
        judge.close()


def test_every_participant_result_arrives_before_its_exit_is_counted(start_method):
    """A participant reports on its own connection and then exits: the report is never lost to the exit."""
    judge = judge_of("answer")
    try:
        arena = Arena(judge, 6)
        calls = arena.run(judge.student(0), [(n,) for n in range(6)])
        assert [c.value for c in calls] == [("answer", n, [n] * n) for n in range(6)]
    finally:
        judge.close()


def test_the_judge_decodes_plain_data_only():
    """A result whose __eq__ always says True arrives as an opaque value that equals nothing."""
    code = define('''
class Anything:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__


def sneaky():
    return [Anything(), 1]
''')
    judge = Judge(handover("sneaky", (code["sneaky"],)))
    try:
        call = judge.call(judge.student(0)).wait(20)
        assert call.status == "returned"
        value = call.value
        assert value[1] == 1 and value[0] != True and value[0] != value[1]  # noqa: E712
        assert type(value[0]).__module__ == "mpcourse._wire"
    finally:
        judge.close()
