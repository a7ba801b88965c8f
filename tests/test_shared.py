"""The instrumented objects make races happen every time, and let correct code through quickly."""
from __future__ import annotations

import multiprocessing

import pytest
from course import START_METHODS
from children import add_locked, add_unlocked, take_twice, withdraw_locked, withdraw_unlocked
from mpcourse.timeline import spans_of
from mpcourse.shared import Account, Arena, Counter, Deadlock, TrackedLock, run_participants


@pytest.fixture(params=START_METHODS)
def start_method(request):
    old = multiprocessing.get_start_method()
    multiprocessing.set_start_method(request.param, force=True)
    yield request.param
    multiprocessing.set_start_method(old, force=True)


def test_account_loses_an_update_every_time_without_a_lock(start_method):
    for _ in range(3):
        arena = Arena(3)
        lock, account = TrackedLock(arena), Account(arena, 100)
        run_participants(arena, withdraw_unlocked, [(lock, account, 10)] * 3)
        assert account.balance == 90          # all three read 100 before anyone wrote


def test_account_keeps_every_update_with_the_lock(start_method):
    arena = Arena(3)
    lock, account = TrackedLock(arena), Account(arena, 100)
    run_participants(arena, withdraw_locked, [(lock, account, 10)] * 3)
    assert account.balance == 70
    holds = [s for s in spans_of(arena.timeline.events()) if s.state == "holding"]
    assert len(holds) == 3 and all(a.end <= b.start for a, b in zip(holds, holds[1:]))


def test_counter_behaves_like_a_value(start_method):
    arena = Arena(2)
    total = Counter(arena)
    run_participants(arena, add_unlocked, [(total, [1, 2, 3]), (total, [10, 20, 30])])
    assert 0 < total.raw < 66
    arena = Arena(2)
    total = Counter(arena)
    run_participants(arena, add_locked, [(total, [1, 2, 3]), (total, [10, 20, 30])])
    assert total.raw == 66


def test_double_acquire_is_reported_as_a_deadlock_at_once():
    arena = Arena(1)
    with pytest.raises(Deadlock, match="waits for 'lock', which it already holds"):
        run_participants(arena, take_twice, [(TrackedLock(arena), Account(arena, 1), 1)], timeout=20)
