"""The checks of 03_locks, called directly (no nbgrader): each mistake fails with its sentence, the fix passes.

The start methods take turns across cases; the end-to-end test (test_assignments.py)
runs every corpus file under every start method.
"""
from __future__ import annotations

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
}

#: (corpus file or INLINE key, answer grade_id, check, None or a phrase of the failure)
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
]


def _answer(student: str, gid: str):
    if student in INLINE:
        return define(INLINE[student])[gid]
    source = sections(CORPUS / f"{student}.py").get(gid) or sections(CORPUS / "reference.py")[gid]
    return define(source)[gid]


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)),
                         ids=[f"{c[0]}-{c[2].__name__}" for c in CASES])
def test_check(index, case):
    student, gid, check_fn, phrase = case
    expect_verdict(check_fn, _answer(student, gid), phrase, START_METHODS[index % len(START_METHODS)])
