"""Checks for assignment 03_locks: withdraw, book_ticket, transfer.

Participants are released together by a barrier and every account access pauses
until the others are stuck too (see ``mpcourse.shared``), so a missing or partial
lock loses an update on every run; the events they record say which mistake it was.
"""
from __future__ import annotations

from ..shared import Account, Arena, Deadlock, TicketDB, TrackedLock, run_participants, writes_without_both_locks
from ..timeline import Event, spans_of
from . import Verdict, check, failed, overlaps, passed, raised

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


def writes_outside_lock(events: list[Event], name: str) -> bool:
    """True when some process wrote ``name`` while it held no tracked lock."""
    spans = [s for s in spans_of(events) if s.state == "holding"]
    for e in events:
        is_write = e.kind == "mark" and e.what == "set" and e.detail.startswith(name + "=")
        if is_write and not any(s.pid == e.pid and s.start <= e.t <= s.end for s in spans):
            return True
    return False


def lock_was_used(events: list[Event]) -> bool:
    return any(e.kind == "state" and e.what in ("waiting", "holding") for e in events)


def _deadlock_verdict(exc: Deadlock, arena: Arena, call: str, advice: str) -> Verdict:
    return failed(f"{call} deadlocked: {exc}; {advice}", arena.timeline, title="deadlock")


# --------------------------------------------------------------------------- withdraw

@check(timeout=15, label="withdraw")
def check_withdraw_once(withdraw) -> Verdict:
    """One withdrawal takes the amount off and leaves the lock free."""
    arena = Arena(1)
    lock, account = TrackedLock(arena), Account(arena, 100)
    try:
        run_participants(arena, withdraw, [(lock, account, 30)])
    except Deadlock as exc:
        return _deadlock_verdict(exc, arena, "withdraw(lock, account, 30)",
                                 "take the lock once (`with lock:` already acquires it)")
    error = raised(arena.timeline, "withdraw(lock, account, 30)")
    if error:
        return error
    if account.balance != 70:
        return failed(f"after withdraw(lock, account, 30) the balance is {account.balance}, expected 70.")
    if not lock.acquire(timeout=1):
        return failed("withdraw returned with the lock still held: release it (use `with lock:`).")
    lock.release()
    return passed()


@check(timeout=20, label="withdraw")
def check_withdraw_keeps_every_update(withdraw) -> Verdict:
    """Three processes withdraw 10 each from 100 at the same time: 70 must remain."""
    arena = Arena(WORKERS)
    lock, account = TrackedLock(arena), Account(arena, 100)
    try:
        run_participants(arena, withdraw, [(lock, account, 10)] * WORKERS)
    except Deadlock as exc:
        return _deadlock_verdict(exc, arena, "withdraw", "take the lock once (`with lock:` already acquires it)")
    error = raised(arena.timeline, "withdraw(lock, account, 10)")
    if error:
        return error
    events = arena.timeline.events()
    clash = lost_update_overlaps(events, "account")
    expected = 100 - 10 * WORKERS
    if account.balance == expected and not clash:
        return passed()
    lost = f"the balance is {account.balance}, expected {expected}"
    if not lock_was_used(events):
        why = (f"{WORKERS} processes withdrew at once and {lost}: `withdraw` never took the lock it was "
               "given (a lock made inside the function protects nothing); use `with lock:` on the `lock` argument.")
    elif writes_outside_lock(events, "account"):
        why = (f"two processes read the balance before either wrote it back ({lost}): the write happens after "
               "the lock is released; keep both account.get() and account.set() inside `with lock:`.")
    else:
        why = (f"two processes read the balance before either wrote it back ({lost}): "
               "hold the lock around the whole read-modify-write.")
    return failed(why, arena.timeline, clash, title="withdraw: read-modify-write windows overlap")


@check(timeout=15, label="withdraw")
def check_withdraw_releases_lock_on_error(withdraw) -> Verdict:
    """When the account raises, the error may propagate, but the lock must be free again."""
    arena = Arena(1)
    lock, account = TrackedLock(arena), Account(arena, 100, fail=True)
    try:
        run_participants(arena, withdraw, [(lock, account, 10)])
    except Deadlock as exc:
        return _deadlock_verdict(exc, arena, "withdraw", "take the lock once (`with lock:` already acquires it)")
    if lock.acquire(timeout=1):
        lock.release()
        return passed()
    return failed("when account.get() raised an error, `withdraw` left the lock held, so every later withdrawal "
                  "would wait forever: use `with lock:` (or release in a `finally:`).", arena.timeline,
                  title="the lock is never released")


# ------------------------------------------------------------------------ book_ticket

def _buy(book_ticket, lock, db, name, results):
    results.put((name, book_ticket(lock, db, name)))


def _run_buyers(book_ticket, tickets: int, buyers: int):
    import multiprocessing

    arena = Arena(buyers)
    lock, db = TrackedLock(arena), TicketDB(arena, tickets)
    results = multiprocessing.get_context().SimpleQueue()
    names = [f"buyer-{i + 1}" for i in range(buyers)]
    procs = run_participants(arena, _buy, [(book_ticket, lock, db, name, results) for name in names],
                             name="buyer")
    answers = {}
    while not results.empty():
        name, bought = results.get()
        answers[name] = bought
    return arena, db, procs, answers


@check(timeout=15, label="book_ticket")
def check_book_ticket_sells(book_ticket) -> Verdict:
    """One buyer gets the only ticket; the next is told there is none left."""
    for tickets, expect in ((1, True), (0, False)):
        try:
            arena, db, procs, answers = _run_buyers(book_ticket, tickets, 1)
        except Deadlock as exc:
            return failed(f"book_ticket deadlocked: {exc}.")
        error = raised(arena.timeline, f"book_ticket(lock, db, 'buyer-1') with {tickets} ticket(s) left")
        if error:
            return error
        if answers["buyer-1"] is not expect:
            return failed(f"with {tickets} ticket(s) left book_ticket returned {answers['buyer-1']!r}, "
                          f"expected {expect}.")
        want_left, want_buyers = (0, ["buyer-1"]) if expect else (0, [])
        if db.tickets != want_left or db.buyers() != want_buyers:
            return failed(f"with {tickets} ticket(s) left, book_ticket left {db.tickets} ticket(s) and recorded "
                          f"{db.buyers()}; expected {want_left} and {want_buyers}.")
        if not any(e.what == "querying" for e in arena.timeline.events()):
            return failed("book_ticket never called db.query(): show the buyer the tickets left first.")
    return passed()


@check(timeout=20, label="book_ticket")
def check_book_ticket_never_oversells(book_ticket) -> Verdict:
    """Three buyers race for the last ticket: exactly one gets it."""
    try:
        arena, db, procs, answers = _run_buyers(book_ticket, 1, WORKERS)
    except Deadlock as exc:
        return failed(f"book_ticket deadlocked: {exc}.")
    error = raised(arena.timeline, "book_ticket(lock, db, name) with one ticket left")
    if error:
        return error
    winners = [name for name, bought in answers.items() if bought]
    if len(winners) == 1 and db.tickets == 0 and len(db.buyers()) == 1:
        return passed()
    clash = lost_update_overlaps(arena.timeline.events(), "tickets")
    return failed(f"{len(db.buyers())} buyers recorded a purchase of the last ticket ({len(winners)} got True): "
                  "two buyers saw the last ticket before either took it; do get, the check and set under "
                  "one `with lock:`.", arena.timeline, clash, title="book_ticket: the last ticket sold twice")


@check(timeout=20, label="book_ticket")
def check_book_ticket_queries_concurrently(book_ticket) -> Verdict:
    """Queries are read-only: buyers must be able to run them at the same time."""
    try:
        arena, db, procs, answers = _run_buyers(book_ticket, WORKERS, WORKERS)
    except Deadlock as exc:
        return failed(f"book_ticket deadlocked: {exc}.")
    spans = {}
    for s in spans_of(arena.timeline.events()):
        if s.state == "querying":
            spans.setdefault(s.pid, []).append((s.start, s.end))
    pids = sorted(spans)
    together = [o for i, a in enumerate(pids) for b in pids[i + 1:] for o in overlaps(spans[a], spans[b])]
    if len(pids) == WORKERS and together:
        return passed()
    return failed("the ticket queries ran one at a time: db.query() only reads, so call it before "
                  "`with lock:` and let every buyer look at once (your answer is correct but too slow).",
                  arena.timeline, title="book_ticket: queries never overlap")


# --------------------------------------------------------------------------- transfer

def _accounts(arena: Arena, balances: dict[str, int]):
    locks = {name: TrackedLock(arena, name) for name in balances}
    accounts = {name: Account(arena, value, name) for name, value in balances.items()}
    return locks, accounts


@check(timeout=15, label="transfer")
def check_transfer_moves_money(transfer) -> Verdict:
    """transfer(locks, accounts, 'a', 'b', 30) moves 30; a transfer to the same account changes nothing."""
    arena = Arena(1)
    locks, accounts = _accounts(arena, {"a": 100, "b": 100})
    try:
        run_participants(arena, transfer, [(locks, accounts, "a", "b", 30)])
    except Deadlock as exc:
        return failed(f"transfer deadlocked: {exc}.")
    error = raised(arena.timeline, "transfer(locks, accounts, 'a', 'b', 30)")
    if error:
        return error
    got = (accounts["a"].balance, accounts["b"].balance)
    if got != (70, 130):
        return failed(f"after transfer(locks, accounts, 'a', 'b', 30) the balances are {got}, expected (70, 130).")
    arena = Arena(1)
    locks, accounts = _accounts(arena, {"a": 100, "b": 100})
    try:
        run_participants(arena, transfer, [(locks, accounts, "a", "a", 30)])
    except Deadlock:
        return failed("transfer(locks, accounts, 'a', 'a', 30) waits for lock 'a', which it already holds: "
                      "when src == dst there is nothing to move, so return before taking any lock.",
                      arena.timeline, title="transfer to the same account")
    if accounts["a"].balance != 100:
        return failed(f"transfer from 'a' to 'a' changed the balance to {accounts['a'].balance}; it must stay 100.")
    return passed()


@check(timeout=20, label="transfer")
def check_transfer_never_deadlocks(transfer) -> Verdict:
    """Two processes transfer in opposite directions at the same time."""
    arena = Arena(2)
    locks, accounts = _accounts(arena, {"a": 100, "b": 100})
    try:
        run_participants(arena, transfer, [(locks, accounts, "a", "b", 10), (locks, accounts, "b", "a", 5)],
                         name="transfer")
    except Deadlock as exc:
        return failed(f"two transfers in opposite directions deadlocked ({exc}): take the two locks in the "
                      "same order in every process, e.g. sorted by account name.", arena.timeline,
                      title="transfer: each process holds one lock and waits for the other")
    error = raised(arena.timeline, "transfer(locks, accounts, 'a', 'b', 10)")
    if error:
        return error
    events = arena.timeline.events()
    got = (accounts["a"].balance, accounts["b"].balance)
    if got != (95, 105):
        clash = lost_update_overlaps(events, "a") + lost_update_overlaps(events, "b")
        return failed(f"after transfers a->b 10 and b->a 5 at the same time the balances are {got}, expected "
                      "(95, 105): hold both accounts' locks while you move the money.", arena.timeline, clash)
    unguarded = writes_without_both_locks(events, ("a", "b"))
    if unguarded:
        return failed("transfer changed a balance while holding fewer than both accounts' locks, so another "
                      "process can see the money in neither account: take both locks (always in the same "
                      "order) before the first get() and release them after the last set().", arena.timeline,
                      unguarded, title="transfer: balances written without both locks held")
    return passed()
