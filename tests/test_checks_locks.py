"""The checks of 03_locks, called directly (no nbgrader): each mistake fails with its sentence, the fix passes.

The start methods take turns across cases (set MPCOURSE_DIRECT_START_METHOD to run every
case under one); the end-to-end test (test_assignments.py) runs every corpus file under
every start method.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from course import START_METHODS
from mpcourse.checks import locks
from student_code import define, expect_verdict, sections

CORPUS = Path(__file__).resolve().parent / "corpus" / "03_locks"

#: answers no corpus file has (each is one answer cell)
INLINE = {
    # a timed acquire beside a holder whose steps are slow (here: CPU work, as on a loaded machine):
    # the verdicts must not depend on how long the holder's steps take, only on the code
    "slow holder, timed acquire": '''
import time

def book_ticket(lock, db, name):
    db.query()
    lock.acquire(timeout=0.1)
    try:
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        n = db.get()
        if n > 0:
            db.set(n - 1)
            db.record(name)
            return True
        return False
    finally:
        lock.release()
''',
    # --- one mistake id each that no corpus file shows (tests/test_mistake_ids.py keeps the list complete) ---
    "withdraw_wrong_way_round": '''
def withdraw(lock, account, amount):
    with lock:
        account.set(amount - account.get())
''',
    "withdraw_never_releases": '''
def withdraw(lock, account, amount):
    lock.acquire()
    account.set(account.get() - amount)
''',
    "ticket_acquire_then_with": '''
def book_ticket(lock, db, name):
    db.query()
    lock.acquire()
    with lock:                      # acquires it a second time
        n = db.get()
        if n > 0:
            db.set(n - 1)
            db.record(name)
            return True
        return False
''',
    "ticket_without_query": '''
def book_ticket(lock, db, name):
    with lock:
        n = db.get()
        if n > 0:
            db.set(n - 1)
            db.record(name)
            return True
        return False
''',
    "transfer_acquire_then_with": '''
def transfer(locks, accounts, src, dst, amount):
    if src == dst:
        return
    first, second = sorted((src, dst))
    locks[first].acquire()
    locks[second].acquire()
    with locks[first], locks[second]:       # acquires both a second time
        accounts[src].set(accounts[src].get() - amount)
        accounts[dst].set(accounts[dst].get() + amount)
''',
}

#: (corpus file or INLINE key, answer grade_id, check, None or a phrase of the failure or (phrase, mistake id))
CASES = [
    ("reference", "withdraw", locks.check_withdraw_keeps_every_update, None),
    ("unlocked_withdraw", "withdraw", locks.check_withdraw_keeps_every_update, "never took the lock"),
    ("private_lock", "withdraw", locks.check_withdraw_keeps_every_update, "never took the lock"),
    ("read_under_lock_only", "withdraw", locks.check_withdraw_keeps_every_update, "read the balance before"),
    ("no_release_on_error", "withdraw", locks.check_withdraw_releases_lock_on_error, "left the lock held"),
    ("reference", "withdraw", locks.check_withdraw_waits_for_the_lock, None),
    ("retry_until_acquired", "withdraw", locks.check_withdraw_waits_for_the_lock, None),
    ("acquire_timeout_writes_anyway", "withdraw", locks.check_withdraw_waits_for_the_lock,
     "gave up and it wrote the balance anyway"),
    ("acquire_timeout_skips", "withdraw", locks.check_withdraw_waits_for_the_lock, "the withdrawal was lost"),
    ("reference", "book_ticket", locks.check_book_ticket_never_oversells, None),
    ("reference", "book_ticket", locks.check_book_ticket_queries_concurrently, None),
    ("reference", "book_ticket", locks.check_book_ticket_sells, None),
    ("reference", "book_ticket", locks.check_book_ticket_waits_for_the_lock, None),
    ("ticket_try_finally", "book_ticket", locks.check_book_ticket_waits_for_the_lock, None),
    ("mut_ticket_acquire_timeout_one_transfer_lock", "book_ticket", locks.check_book_ticket_waits_for_the_lock,
     "gave up and it sold the ticket anyway"),
    ("mut_ticket_return_before_release", "book_ticket", locks.check_book_ticket_sells,
     "returned with the lock still held"),
    ("mut_ticket_return_before_release", "book_ticket", locks.check_book_ticket_never_oversells,
     "returned with 'lock' still held, so"),
    ("coarse_ticket_lock", "book_ticket", locks.check_book_ticket_queries_concurrently, "one at a time"),
    ("slow holder, timed acquire", "book_ticket", locks.check_book_ticket_queries_concurrently, None),
    ("slow holder, timed acquire", "book_ticket", locks.check_book_ticket_never_oversells, None),
    ("slow holder, timed acquire", "book_ticket", locks.check_book_ticket_waits_for_the_lock,
     "gave up and it sold the ticket anyway"),
    ("check_outside_lock", "book_ticket", locks.check_book_ticket_never_oversells, "saw the last ticket"),
    ("ticket_without_lock", "book_ticket", locks.check_book_ticket_never_oversells, "saw the last ticket"),
    ("reference", "transfer", locks.check_transfer_never_deadlocks, None),
    ("try_finally_style", "transfer", locks.check_transfer_never_deadlocks, None),
    ("argument_lock_order", "transfer", locks.check_transfer_never_deadlocks, "deadlocked"),
    ("transfer_no_lock", "transfer", locks.check_transfer_never_deadlocks, "both accounts' locks"),
    ("transfer_one_lock_at_a_time", "transfer", locks.check_transfer_never_deadlocks, "fewer than both"),
    # mistakes no corpus file shows: (phrase, mistake id)
    ("withdraw_wrong_way_round", "withdraw", locks.check_withdraw_once, ("expected 70", "withdraw/wrong-amount")),
    ("withdraw_never_releases", "withdraw", locks.check_withdraw_once,
     ("returned with the lock still held", "withdraw/lock-not-released")),
    ("ticket_acquire_then_with", "book_ticket", locks.check_book_ticket_sells,
     ("book_ticket deadlocked", "book_ticket/double-acquire")),
    ("ticket_without_query", "book_ticket", locks.check_book_ticket_sells,
     ("never called db.query()", "book_ticket/no-query")),
    ("ticket_forgets_record", "book_ticket", locks.check_book_ticket_sells,
     ("recorded []; expected 0 and ['buyer-1']", "book_ticket/wrong-sale")),
    ("transfer_acquire_then_with", "transfer", locks.check_transfer_moves_money,
     ("transfer deadlocked", "transfer/double-acquire")),
]


def _answer(student: str, gid: str):
    if student in INLINE:
        return define(INLINE[student])[gid]
    source = sections(CORPUS / f"{student}.py").get(gid) or sections(CORPUS / "reference.py")[gid]
    return define(source)[gid]


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)),
                         ids=[f"{c[0]}-{c[2].__name__}" for c in CASES])
def test_check(index, case):
    student, gid, check_fn, failure = case
    phrase, mistake = failure if isinstance(failure, tuple) else (failure, None)
    method = os.environ.get("MPCOURSE_DIRECT_START_METHOD") or START_METHODS[index % len(START_METHODS)]
    expect_verdict(check_fn, _answer(student, gid), phrase, method, mistake=mistake)
