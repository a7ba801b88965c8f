"""Checks for assignment 03_locks: withdraw, book_ticket, transfer.

Test plan (the contract of COURSE_SPEC.md, dimension by dimension; every check runs
the student's code in participant processes of the stage, started together, with
instrumented objects whose state and event log the judge holds; see ``mpcourse.shared``):

``withdraw(lock, account, amount)``
  * values: one withdrawal takes ``amount`` off (``check_withdraw_once``);
  * concurrency: three processes withdraw at once and every step waits for the others,
    so no lock / a lock around part of the read-modify-write / a private lock loses an
    update on every run (``check_withdraw_keeps_every_update``, the visible test);
  * timing: the checker holds the lock past the student's own ``acquire(timeout=...)``
    (the judge sees the timeout and outlasts it), so giving up and writing anyway, or
    silently skipping the withdrawal, is caught (``check_withdraw_waits_for_the_lock``);
  * exceptions: the account raises; the lock must be free afterwards
    (``check_withdraw_releases_lock_on_error``); double ``acquire`` is a deadlock seen at once.
``book_ticket(lock, db, name)``
  * values: one ticket sells, none left gives False, the buyer is recorded, query is called
    (``check_book_ticket_sells``); the answer must be exactly True/False; the lock is free after
    each call (a ``return`` before ``lock.release()``);
  * timing: the checker holds the lock past the buyer's own ``acquire(timeout=...)``; giving up
    and selling anyway, or not selling, is caught (``check_book_ticket_waits_for_the_lock``);
  * concurrency: three buyers race for the last ticket (``check_book_ticket_never_oversells``,
    the visible test); granularity: queries must overlap (``check_book_ticket_queries_concurrently``,
    partial credit).
``transfer(locks, accounts, src, dst, amount)``
  * values: money moves; ``src == dst`` changes nothing and must not deadlock (``check_transfer_moves_money``);
  * concurrency: opposite transfers at once never deadlock, keep the balances, and never write
    a balance holding fewer than both locks (``check_transfer_never_deadlocks``, the visible test).
Any exercise: an ``acquire(timeout=...)`` gives up only where a check means it to (the checker
holds the lock past it, or the holder itself waits or has returned); beside a participant that
holds the lock and works, it waits on, however slow the machine makes those steps
(``ArenaLock._holder_at_work``), so the verdicts of the other checks never hang on a timeout.
Any exercise: a participant that returns holding a lock others wait for is named at once
(``<exercise>/lock-not-released``), one that never returns is ``<exercise>/hangs``.
Leftovers: the stage (and everything the student's code started) is killed after each check.
"""
from __future__ import annotations

import time

from ..shared import Arena, Deadlock, first_error, writes_without_both_locks
from ..timeline import Event, spans_of
from . import Verdict, check, failed, overlaps, passed

WORKERS = 3


def read_modify_write_windows(events: list[Event], name: str) -> dict[int, list[tuple[float, float]]]:
    """Per process, the intervals from each read of ``name`` to that process's next write."""
    windows: dict[int, list[tuple[float, float]]] = {}
    last_read: dict[int, float] = {}
    for e in events:
        if e.kind != "mark" or not e.detail.startswith(name + "="):
            continue
        if e.what == "get":
            last_read[e.pid] = e.t
        elif e.what == "set" and e.pid in last_read:
            windows.setdefault(e.pid, []).append((last_read.pop(e.pid), e.t))
    return windows


def lost_update_overlaps(events: list[Event], name: str) -> list[tuple[float, float]]:
    """Where two processes were between reading and writing ``name`` at the same time."""
    windows = read_modify_write_windows(events, name)
    pids = sorted(windows)
    found = []
    for i, a in enumerate(pids):
        for b in pids[i + 1:]:
            found += overlaps(windows[a], windows[b])
    return found


def writes_outside_lock(events: list[Event], name: str) -> list[Event]:
    """The writes of ``name`` made by a process that held no lock at that moment."""
    spans = [s for s in spans_of(events) if s.state == "holding"]
    return [e for e in events
            if e.kind == "mark" and e.what == "set" and e.detail.startswith(name + "=")
            and not any(s.pid == e.pid and s.start <= e.t <= s.end for s in spans)]


def lock_was_used(events: list[Event]) -> bool:
    return any(e.kind == "state" and e.what in ("waiting", "holding") and e.pid != 0 for e in events)


def _raised(calls, call_text: str, exercise: str) -> Verdict | None:
    error = first_error(calls)
    if error is None:
        return None
    return failed(f"{exercise}/raised", f"{call_text} raised {error.error()}.")


def _deadlock_verdict(exc: Deadlock, arena: Arena, call: str, mistake: str, advice: str) -> Verdict:
    return failed(mistake, f"{call} deadlocked: {exc}; {advice}", arena.judge.events(), title="deadlock")


# --------------------------------------------------------------------------- withdraw

TAKE_ONCE = "take the lock once (`with lock:` already acquires it)"


@check(timeout=15, label="withdraw")
def check_withdraw_once(judge, withdraw) -> Verdict:
    """One withdrawal takes the amount off and leaves the lock free."""
    arena = Arena(judge, 1)
    lock, account = arena.lock(), arena.account("account", 100)
    try:
        calls = arena.run(withdraw, [(lock, account, 30)])
    except Deadlock as exc:
        return _deadlock_verdict(exc, arena, "withdraw(lock, account, 30)", "withdraw/double-acquire", TAKE_ONCE)
    error = _raised(calls, "withdraw(lock, account, 30)", "withdraw")
    if error:
        return error
    if account.balance != 70:
        return failed("withdraw/wrong-amount", f"after withdraw(lock, account, 30) the balance is "
                      f"{account.balance!r}, expected 70: subtract amount from account.get() and set the result.")
    if not lock.is_free():
        return failed("withdraw/lock-not-released", "withdraw returned with the lock still held: release it "
                      "(use `with lock:`).")
    return passed("one withdrawal of 30 from 100 left 70 and the lock free")


@check(timeout=20, label="withdraw")
def check_withdraw_keeps_every_update(judge, withdraw) -> Verdict:
    """Three processes withdraw 10 each from 100 at the same time: 70 must remain."""
    arena = Arena(judge, WORKERS)
    lock, account = arena.lock(), arena.account("account", 100)
    try:
        calls = arena.run(withdraw, [(lock, account, 10)] * WORKERS)
    except Deadlock as exc:
        return _deadlock_verdict(exc, arena, "withdraw", "withdraw/double-acquire", TAKE_ONCE)
    error = _raised(calls, "withdraw(lock, account, 10)", "withdraw")
    if error:
        return error
    events = judge.events()
    clash = lost_update_overlaps(events, "account")
    expected = 100 - 10 * WORKERS
    if account.balance == expected and not clash:
        return passed(f"{WORKERS} processes withdrew 10 each at once; the balance is {expected} as expected")
    lost = f"the balance is {account.balance!r}, expected {expected}"
    if not clash and not writes_outside_lock(events, "account") and lock.refused:
        return failed("withdraw/gives-up-waiting", f"{WORKERS} processes withdrew at once and {lost}: when the lock "
                      "was busy, acquire() returned False (block=False or a timeout) and that withdrawal was "
                      "skipped; wait for the lock as long as it takes (`with lock:`).", events,
                      title="withdraw gave up waiting for the lock")
    if not clash and not writes_outside_lock(events, "account"):
        return failed("withdraw/wrong-amount", f"{WORKERS} processes withdrew 10 each one after another and {lost}: "
                      "subtract amount from account.get() and set the result, once per call.")
    if not lock_was_used(events):
        mistake = "withdraw/no-lock"
        why = (f"{WORKERS} processes withdrew at once and {lost}: `withdraw` never took the lock it was given "
               "(a lock made inside the function protects nothing); use `with lock:` on the `lock` argument.")
    elif writes_outside_lock(events, "account"):
        mistake = "withdraw/partial-lock"
        why = (f"two processes read the balance before either wrote it back ({lost}): the write happens after "
               "the lock is released; keep both account.get() and account.set() inside `with lock:`.")
    else:
        mistake = "withdraw/partial-lock"
        why = (f"two processes read the balance before either wrote it back ({lost}): "
               "hold the lock around the whole read-modify-write.")
    return failed(mistake, why, events, clash, title="withdraw: read-modify-write windows overlap")


@check(timeout=25, label="withdraw")
def check_withdraw_waits_for_the_lock(judge, withdraw) -> Verdict:
    """Another process holds the lock for longer than withdraw's own acquire timeout: it must still withdraw."""
    arena = Arena(judge, 1)
    lock, account = arena.lock(), arena.account("account", 100)
    outcome = _run_while_lock_held(arena, lock, withdraw, (lock, account, 10), "withdraw",
                                   "withdraw(lock, account, 10) while another process held the lock")
    if isinstance(outcome, Verdict):
        return outcome
    (released, error), events = outcome, judge.events()
    unguarded = writes_outside_lock(events, "account")
    if unguarded and not lock_was_used(events):
        return failed("withdraw/no-lock", "withdraw wrote the balance without ever taking the lock it was given: "
                      "use `with lock:` on the `lock` argument.", events, title="withdraw never took the lock")
    if unguarded:
        return failed("withdraw/gives-up-waiting", "while another process held the lock, withdraw's "
                      "lock.acquire(timeout=...) gave up and it wrote the balance anyway, without the lock: "
                      "wait for the lock as long as it takes (`with lock:`), or retry until acquire() "
                      "returns True.", events, [(e.t - 0.01, e.t + 0.01) for e in unguarded],
                      title="withdraw wrote the balance without holding the lock")
    if error:
        return error
    if account.balance != 90:
        return failed("withdraw/gives-up-waiting", f"while another process held the lock for "
                      f"{released:.1f} s, withdraw gave up and the withdrawal was lost (the balance stayed "
                      f"{account.balance!r}, expected 90): wait for the lock as long as it takes (`with lock:`).",
                      events, title="withdraw gave up waiting for the lock")
    return passed(f"it waited {released:.1f} s for a lock another process held, then withdrew")


def _run_while_lock_held(arena: Arena, lock, func, args: tuple, exercise: str, call_text: str):
    """Run ``func(*args)`` in one participant while the checker holds ``lock`` past any acquire timeout.

    Returns the Verdict of a deadlock or a hang, or (how long the lock was held, the Verdict of
    an error the call raised or None): a write without the lock is named before the error it led to.
    """
    judge = arena.judge
    lock.hold("another process")
    call = judge.call(func, *args, mode="process", name="worker-1", slot=0)
    released = _outlast_timeouts(arena, lock, call)
    deadline = time.monotonic() + 10
    while not call.exited.is_set() and time.monotonic() < deadline:
        cycle = arena.deadlock()
        if cycle:
            time.sleep(0.05)
            if arena.deadlock() == cycle:
                return _deadlock_verdict(Deadlock(cycle, dict(arena.names)), arena, exercise,
                                         f"{exercise}/double-acquire", TAKE_ONCE)
        call.exited.wait(0.02)
    if call.status == "raised" and call.error_type == "NotImplementedError":
        call.wait(0)
    if not call.finished.is_set():
        return failed(f"{exercise}/hangs", f"{exercise} did not return within 10 s after the lock was free again.",
                      judge.events())
    return released, _raised([call], call_text, exercise)


def _outlast_timeouts(arena: Arena, lock, call) -> float:
    """Keep the lock held until the participant's own acquire timeouts have run out, then free it.

    Returns how long it was held. A blocking acquire (no timeout) gets the lock after
    half a second of waiting; an acquire with a timeout is outlasted by the judge, which
    answers it, so the student's code sees its timeout expire every time.
    """
    judge = arena.judge
    start = time.monotonic()
    waited_since = None
    while time.monotonic() - start < 12 and not call.finished.is_set() and not judge.lost.is_set():
        with judge.cv:
            waiting = arena.waiting_for[0] is lock
            pending = lock.pending_timeouts
        if waiting and not pending:
            waited_since = waited_since or time.monotonic()
            if time.monotonic() - waited_since > 0.5:
                break
        else:
            waited_since = None
        if not waiting and lock.timeouts_expired and time.monotonic() - lock.last_expiry > 0.5:
            break
        time.sleep(0.02)
    lock.free("another process")
    return time.monotonic() - start


@check(timeout=15, label="withdraw")
def check_withdraw_releases_lock_on_error(judge, withdraw) -> Verdict:
    """When the account raises, the error may propagate, but the lock must be free again."""
    arena = Arena(judge, 1)
    lock, account = arena.lock(), arena.account("account", 100, fail=True)
    try:
        arena.run(withdraw, [(lock, account, 10)])
    except Deadlock as exc:
        return _deadlock_verdict(exc, arena, "withdraw", "withdraw/double-acquire", TAKE_ONCE)
    if lock.is_free():
        return passed("the lock was free again after account.get() raised an error")
    return failed("withdraw/no-release-on-error", "when account.get() raised an error, `withdraw` left the lock "
                  "held, so every later withdrawal would wait forever: use `with lock:` (or release in a "
                  "`finally:`).", judge.events(), title="the lock is never released")


# ------------------------------------------------------------------------ book_ticket

def _run_buyers(judge, book_ticket, tickets: int, buyers: int):
    arena = Arena(judge, buyers)
    lock, db = arena.lock(), arena.tickets(tickets)     # arena.locks[0] is this lock
    names = [f"buyer-{i + 1}" for i in range(buyers)]
    calls = arena.run(book_ticket, [(lock, db, name) for name in names], name="buyer")
    answers = {name: call.value for name, call in zip(names, calls)}
    return arena, db, calls, answers


@check(timeout=15, label="book_ticket")
def check_book_ticket_sells(judge, book_ticket) -> Verdict:
    """One buyer gets the only ticket; the next is told there is none left."""
    for tickets, expect in ((1, True), (0, False)):
        try:
            arena, db, calls, answers = _run_buyers(judge, book_ticket, tickets, 1)
        except Deadlock as exc:
            return failed("book_ticket/double-acquire", f"book_ticket deadlocked: {exc}; {TAKE_ONCE}.")
        error = _raised(calls, f"book_ticket(lock, db, 'buyer-1') with {tickets} ticket(s) left", "book_ticket")
        if error:
            return error
        if answers["buyer-1"] is not expect:
            return failed("book_ticket/wrong-answer", f"with {tickets} ticket(s) left book_ticket returned "
                          f"{answers['buyer-1']!r}, expected {expect}.")
        want_buyers = ["buyer-1"] if expect else []
        if db.tickets != 0 or db.buyers != want_buyers:
            return failed("book_ticket/wrong-sale", f"with {tickets} ticket(s) left, book_ticket left "
                          f"{db.tickets!r} ticket(s) and recorded {db.buyers}; expected 0 and {want_buyers}.")
        if not any(e.what == "querying" for e in judge.events()):
            return failed("book_ticket/no-query", "book_ticket never called db.query(): show the buyer the "
                          "tickets left first.")
        if not arena.locks[0].is_free():
            return failed("book_ticket/lock-not-released", f"with {tickets} ticket(s) left book_ticket returned "
                          "with the lock still held, so every later buyer would wait forever: release it on every "
                          "path (`with lock:` does; a `return` before `lock.release()` skips it).")
    return passed("the last ticket sold once (True), and with none left the answer was False")


@check(timeout=25, label="book_ticket")
def check_book_ticket_waits_for_the_lock(judge, book_ticket) -> Verdict:
    """Another process holds the lock for longer than book_ticket's own acquire timeout: it must still buy."""
    arena = Arena(judge, 1)
    lock, db = arena.lock(), arena.tickets(1)
    outcome = _run_while_lock_held(arena, lock, book_ticket, (lock, db, "buyer-1"), "book_ticket",
                                   "book_ticket(lock, db, 'buyer-1') while another process held the lock")
    if isinstance(outcome, Verdict):
        return outcome
    (released, error), events = outcome, judge.events()
    unguarded = writes_outside_lock(events, "tickets")
    if unguarded and not lock_was_used(events):
        return failed("book_ticket/no-lock", "book_ticket sold the ticket without ever taking the lock it was "
                      "given: do get, the check and set under `with lock:`.", events,
                      title="book_ticket never took the lock")
    if unguarded:
        return failed("book_ticket/gives-up-waiting", "while another process held the lock, book_ticket's "
                      "lock.acquire(timeout=...) gave up and it sold the ticket anyway, without the lock: wait "
                      "for the lock as long as it takes (`with lock:`), or retry until acquire() returns True.",
                      events, [(e.t - 0.01, e.t + 0.01) for e in unguarded],
                      title="book_ticket sold without holding the lock")
    if error:
        return error
    if db.tickets != 0 or db.buyers != ["buyer-1"]:
        return failed("book_ticket/gives-up-waiting", f"while another process held the lock for {released:.1f} s, "
                      f"book_ticket gave up and the last ticket was not sold (tickets left: {db.tickets!r}): wait "
                      "for the lock as long as it takes (`with lock:`).", events,
                      title="book_ticket gave up waiting for the lock")
    return passed(f"it waited {released:.1f} s for a lock another process held, then sold the last ticket")


@check(timeout=20, label="book_ticket")
def check_book_ticket_never_oversells(judge, book_ticket) -> Verdict:
    """Three buyers race for the last ticket: exactly one gets it."""
    try:
        arena, db, calls, answers = _run_buyers(judge, book_ticket, 1, WORKERS)
    except Deadlock as exc:
        return failed("book_ticket/double-acquire", f"book_ticket deadlocked: {exc}; {TAKE_ONCE}.")
    error = _raised(calls, "book_ticket(lock, db, name) with one ticket left", "book_ticket")
    if error:
        return error
    winners = [name for name, bought in answers.items() if bought is True]
    if len(winners) == 1 and db.tickets == 0 and len(db.buyers) == 1:
        return passed(f"{WORKERS} buyers raced for the last ticket and exactly one got it")
    events = judge.events()
    clash = lost_update_overlaps(events, "tickets")
    if not clash and not writes_outside_lock(events, "tickets"):
        return failed("book_ticket/wrong-answer", f"{WORKERS} buyers raced for the last ticket, one at a time: "
                      f"{len(winners)} got True and {len(db.buyers)} purchase(s) were recorded, with "
                      f"{db.tickets!r} ticket(s) left; exactly one buyer must get True (the bool), set the count "
                      "to 0 and record their name, and the others get False.", events,
                      title="book_ticket: the last ticket")
    mistake = "book_ticket/partial-lock" if lock_was_used(events) else "book_ticket/no-lock"
    return failed(mistake, f"{len(db.buyers)} buyers recorded a purchase of the last ticket "
                  f"({len(winners)} got True): two buyers saw the last ticket before either took it; do get, the "
                  "check and set under one `with lock:`.", events, clash,
                  title="book_ticket: the last ticket sold twice")


@check(timeout=20, label="book_ticket")
def check_book_ticket_queries_concurrently(judge, book_ticket) -> Verdict:
    """Queries are read-only: buyers must be able to run them at the same time."""
    try:
        _arena, _db, calls, _answers = _run_buyers(judge, book_ticket, WORKERS, WORKERS)
    except Deadlock as exc:
        return failed("book_ticket/double-acquire", f"book_ticket deadlocked: {exc}; {TAKE_ONCE}.")
    error = _raised(calls, "book_ticket(lock, db, name)", "book_ticket")
    if error:
        return error
    events = judge.events()
    spans: dict[int, list] = {}
    for s in spans_of(events):
        if s.state == "querying":
            spans.setdefault(s.pid, []).append((s.start, s.end))
    pids = sorted(spans)
    together = [o for i, a in enumerate(pids) for b in pids[i + 1:] for o in overlaps(spans[a], spans[b])]
    if len(pids) == WORKERS and together:
        return passed(f"the {WORKERS} buyers' read-only queries ran at the same time")
    return failed("book_ticket/coarse-lock", "the ticket queries ran one at a time: db.query() only reads, so call "
                  "it before `with lock:` and let every buyer look at once (your answer is correct but too "
                  "slow).", events, title="book_ticket: queries never overlap")


# --------------------------------------------------------------------------- transfer

def _accounts(arena: Arena, balances: dict[str, int]):
    locks = {name: arena.lock(name) for name in balances}
    accounts = {name: arena.account(name, value) for name, value in balances.items()}
    return locks, accounts


@check(timeout=15, label="transfer")
def check_transfer_moves_money(judge, transfer) -> Verdict:
    """transfer(locks, accounts, 'a', 'b', 30) moves 30; a transfer to the same account changes nothing."""
    arena = Arena(judge, 1)
    locks, accounts = _accounts(arena, {"a": 100, "b": 100})
    try:
        calls = arena.run(transfer, [(locks, accounts, "a", "b", 30)])
    except Deadlock as exc:
        return failed("transfer/double-acquire", f"transfer deadlocked: {exc}; {TAKE_ONCE}.")
    error = _raised(calls, "transfer(locks, accounts, 'a', 'b', 30)", "transfer")
    if error:
        return error
    got = (accounts["a"].balance, accounts["b"].balance)
    if got != (70, 130):
        return failed("transfer/wrong-amount", f"after transfer(locks, accounts, 'a', 'b', 30) the balances are "
                      f"{got}, expected (70, 130).")
    arena = Arena(judge, 1)
    locks, accounts = _accounts(arena, {"a": 100, "b": 100})
    try:
        calls = arena.run(transfer, [(locks, accounts, "a", "a", 30)], name="same")
    except Deadlock:
        return failed("transfer/same-account-deadlock", "transfer(locks, accounts, 'a', 'a', 30) waits for lock "
                      "'a', which it already holds: when src == dst there is nothing to move, so return before "
                      "taking any lock.", judge.events(), title="transfer to the same account")
    error = _raised(calls, "transfer(locks, accounts, 'a', 'a', 30)", "transfer")
    if error:
        return error
    if accounts["a"].balance != 100:
        return failed("transfer/same-account-changed", f"transfer from 'a' to 'a' changed the balance to "
                      f"{accounts['a'].balance!r}; it must stay 100.")
    return passed("30 moved from a to b, and a transfer from a to a changed nothing")


@check(timeout=20, label="transfer")
def check_transfer_never_deadlocks(judge, transfer) -> Verdict:
    """Two processes transfer in opposite directions at the same time."""
    arena = Arena(judge, 2)
    locks, accounts = _accounts(arena, {"a": 100, "b": 100})
    try:
        calls = arena.run(transfer, [(locks, accounts, "a", "b", 10), (locks, accounts, "b", "a", 5)],
                          name="transfer")
    except Deadlock as exc:
        return failed("transfer/lock-order", f"two transfers in opposite directions deadlocked ({exc}): take the "
                      "two locks in the same order in every process, e.g. sorted by account name.",
                      judge.events(), title="transfer: each process holds one lock and waits for the other")
    error = _raised(calls, "transfer(locks, accounts, 'a', 'b', 10)", "transfer")
    if error:
        return error
    events = judge.events()
    got = (accounts["a"].balance, accounts["b"].balance)
    unguarded = writes_without_both_locks(events, ("a", "b"))
    clash = lost_update_overlaps(events, "a") + lost_update_overlaps(events, "b")
    if got != (95, 105) and (clash or not lock_was_used(events)):
        return failed("transfer/no-lock", f"after transfers a->b 10 and b->a 5 at the same time the balances are "
                      f"{got}, expected (95, 105): hold both accounts' locks while you move the money.", events,
                      clash)
    if got != (95, 105) and not unguarded:
        return failed("transfer/wrong-amount", f"after transfers a->b 10 and b->a 5 the balances are {got}, "
                      "expected (95, 105): take amount from accounts[src] and add it to accounts[dst].")
    if unguarded:
        return failed("transfer/one-lock-at-a-time", "transfer changed a balance while holding fewer than both "
                      "accounts' locks, so another process can see the money in neither account: take both "
                      "locks (always in the same order) before the first get() and release them after the last "
                      "set().", events, unguarded, title="transfer: balances written without both locks held")
    return passed("transfers a->b and b->a ran at once without deadlock; the balances are (95, 105)")
