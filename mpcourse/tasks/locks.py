"""Child-process functions of lecture 03 (mutex locks, 互斥锁).

Children never print: they record what they do on a Timeline (``read``/``write`` marks,
``waiting``/``holding`` states), and the notebook draws and checks it.

To make the unlucky interleaving happen on every run (not once in a thousand), the racy
demos take an optional ``all_read`` barrier: every clerk waits there after reading the
balance until all clerks have read it. In real programs the OS scheduler does the same to
you at random moments.
"""
from __future__ import annotations

import json
import multiprocessing
import multiprocessing.sharedctypes
import multiprocessing.synchronize
import os
import time

from ..timeline import Event, Timeline

#: seconds a clerk spends before the counter (serving the customer) and at the till
SERVE, COUNT_CASH = 0.1, 0.05
#: no barrier waits longer than this: a sibling that died must not hang the demo
PATIENCE = 30

Barrier = multiprocessing.synchronize.Barrier
Lock = multiprocessing.synchronize.Lock


def _serve_customer(tl: Timeline, opening: Barrier | None, at_till: Barrier | None = None) -> None:
    """Work that needs no shared data: any number of clerks may do it at the same time."""
    if opening is not None:
        opening.wait(PATIENCE)            # the bank opens: every clerk starts at once
    tl.state("blocked", "sleep: serving")
    time.sleep(SERVE)
    if at_till is not None:
        at_till.wait(PATIENCE)            # and every clerk reaches the till together


def _read_modify_write(tl: Timeline, account, amount: int, all_read: Barrier | None) -> None:
    """The critical section: read the balance, count the cash, write the new balance."""
    balance = account.value
    tl.mark("read", str(balance))
    if all_read is not None:
        all_read.wait(PATIENCE)           # force the worst case: everybody has read before anybody writes
    time.sleep(COUNT_CASH)
    account.value = balance - amount
    tl.mark("write", str(balance - amount))


def withdraw_without_lock(tl: Timeline, account, amount: int, opening: Barrier | None = None,
                          all_read: Barrier | None = None) -> None:
    """Withdraw with no lock: clerks that read the same balance overwrite each other (a lost update)."""
    _serve_customer(tl, opening)
    _read_modify_write(tl, account, amount, all_read)
    tl.state("exited")


def withdraw_with_lock(tl: Timeline, account, amount: int, lock: Lock, opening: Barrier | None = None,
                       at_till: Barrier | None = None) -> None:
    """Withdraw holding the one shared lock around the read-modify-write, and only around it."""
    _serve_customer(tl, opening, at_till)
    tl.state("blocked", "lock")
    with lock:
        tl.state("holding", "lock")
        _read_modify_write(tl, account, amount, None)
        tl.state("running")               # recorded before the release: the next holder starts after it
    tl.state("exited")


def withdraw_with_own_lock(tl: Timeline, account, amount: int, opening: Barrier | None = None,
                           all_read: Barrier | None = None) -> None:
    """Withdraw under a lock this process creates for itself: nobody else uses it, so it protects nothing."""
    _serve_customer(tl, opening)
    my_lock = multiprocessing.Lock()      # the bug: a new lock per process (per call)
    tl.state("blocked", "own lock")
    with my_lock:
        tl.state("holding", "own lock")
        _read_modify_write(tl, account, amount, all_read)
        tl.state("running")
    tl.state("exited")


def critical_sections(events: list[Event]) -> dict[str, tuple[float, float]]:
    """(Parent side) each process's time from its ``read`` mark to its ``write`` mark."""
    reads = {e.name: e.t for e in events if e.what == "read"}
    writes = {e.name: e.t for e in events if e.what == "write"}
    return {name: (reads[name], writes[name]) for name in reads if name in writes}


def overlapping(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(Parent side) the stretches of time where two or more of ``intervals`` overlap, merged."""
    pairs = sorted((max(a[0], b[0]), min(a[1], b[1]))
                   for i, a in enumerate(intervals) for b in intervals[i + 1:] if max(a[0], b[0]) < min(a[1], b[1]))
    merged: list[tuple[float, float]] = []
    for start, end in pairs:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def increment_many(counter, times: int, opening: Barrier) -> None:
    """``counter.value += 1`` again and again with no lock: a read and a write, with a gap between."""
    opening.wait(PATIENCE)
    for _ in range(times):
        counter.value += 1


# --- the seed's "acquire is like an if", and the fairness a lock does not promise ----------

def enter_with_an_if(tl: Timeline, taken, both_checked: Barrier) -> None:
    """The seed's pseudo-lock, ``if my_lock == False: my_lock = True``: a check, then an act.

    ``taken`` is a shared flag (a ``Value``). Between the check and the act another process
    can check too; the barrier makes that happen on every run.
    """
    tl.state("running")
    if not taken.value:                   # check: the "lock" looks free...
        both_checked.wait(PATIENCE)       # (the worst case, every run: the other one checks now too)
        taken.value = True                # ...act: take it
        tl.state("holding", "the flag")
        time.sleep(0.1)                   # the critical section
        taken.value = False
    tl.state("exited")


def _run_on_cpu(cpu: int | None) -> None:
    """Stay on one CPU (Linux), so the demo's outcome does not depend on where the OS puts us."""
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def hog_the_lock(tl: Timeline, lock: Lock, events: tuple, turns, rounds: int, out, cpu: int | None = None) -> None:
    """In each round: take the lock, let the other process queue up for it, then release and at once
    re-acquire it. Reports in how many rounds this process got the lock back ahead of the process
    that was already waiting: a Lock promises exclusion, not first-come-first-served.
    """
    hog_holds, asked, had_turn = events
    _run_on_cpu(cpu)
    took_it_back = 0
    for _ in range(rounds):
        lock.acquire()
        tl.state("holding", "lock")
        hog_holds.set()
        asked.wait(PATIENCE)
        asked.clear()
        time.sleep(0.02)                  # the other process is blocked inside acquire() by now
        before = turns.value
        lock.release()
        lock.acquire()                    # the other one was first in line: who gets the lock?
        took_it_back += turns.value == before
        tl.mark("took it back" if turns.value == before else "lost it")
        tl.state("running")
        lock.release()                    # now let it have its turn
        had_turn.wait(PATIENCE)
        had_turn.clear()
    tl.state("exited")
    out.put(took_it_back)


def wait_for_the_lock(tl: Timeline, lock: Lock, events: tuple, turns, rounds: int, cpu: int | None = None) -> None:
    """In each round: once the hog holds the lock, ask for it, and count a turn when it is ours."""
    hog_holds, asked, had_turn = events
    _run_on_cpu(cpu)
    tl.state("running")
    for _ in range(rounds):
        hog_holds.wait(PATIENCE)
        hog_holds.clear()
        tl.state("blocked", "lock")
        asked.set()
        with lock:
            tl.state("holding", "lock")
            tl.mark("got it")
            turns.value += 1
        tl.state("running")
        had_turn.set()
    tl.state("exited")


# --- the ticket counter (抢票): a JSON file is the database --------------------------------

QUERY, BUY = 0.1, 0.05


def query_tickets(tl: Timeline, db: str, opening: Barrier | None = None) -> int:
    """Look up how many tickets are left: read-only and slow (a round trip to the database)."""
    tl.state("blocked", "query")
    if opening is not None:
        opening.wait(PATIENCE)            # the office opens at 9:00: every query is answered from then on
    with open(db, encoding="utf-8") as f:
        left = json.load(f)["tickets"]
    time.sleep(QUERY)
    tl.state("running")
    return left


def buy_ticket(tl: Timeline, db: str, name: str) -> bool:
    """Read the count, and if a ticket is left, write the count minus one and record the buyer."""
    with open(db, encoding="utf-8") as f:
        data = json.load(f)
    time.sleep(BUY)
    if data["tickets"] <= 0:
        tl.mark("sold out")
        return False
    data["tickets"] -= 1
    data["buyers"].append(name)
    with open(db, "w", encoding="utf-8") as f:
        json.dump(data, f)
    tl.mark("bought")
    return True


def book_with_fine_lock(tl: Timeline, db: str, name: str, lock: Lock, opening: Barrier) -> None:
    """Query outside the lock (queries may overlap), buy under it (one buyer at a time)."""
    tl.state("running")
    query_tickets(tl, db, opening)
    tl.state("blocked", "lock")
    with lock:
        tl.state("holding", "lock")
        buy_ticket(tl, db, name)
        tl.state("running")
    tl.state("exited")


def book_with_coarse_lock(tl: Timeline, db: str, name: str, lock: Lock, opening: Barrier) -> None:
    """Query and buy both under the lock: still correct, but now even the queries wait in line."""
    opening.wait(PATIENCE)
    tl.state("blocked", "lock")
    with lock:
        tl.state("holding", "lock")
        query_tickets(tl, db)
        tl.state("holding", "lock")
        buy_ticket(tl, db, name)
        tl.state("running")
    tl.state("exited")


# --- deadlocks (死锁) ------------------------------------------------------------------------

def acquire_twice(lock) -> str:
    """Acquire the same lock twice in one process: a Lock waits for itself forever, an RLock counts."""
    lock.acquire()
    lock.acquire()                        # a Lock is held (by us): wait until it is released... never
    lock.release()
    lock.release()
    return "acquired twice and released twice"


def transfer(tl: Timeline, locks: dict, accounts: dict, src: str, dst: str, amount: int,
             opening: Barrier, ordered: bool, both_hold: Barrier | None = None) -> None:
    """Move ``amount`` from ``src`` to ``dst`` holding both accounts' locks.

    ``ordered=False`` takes the source's lock first: two opposite transfers deadlock.
    ``ordered=True`` takes the locks in one global order (sorted names): no cycle, no deadlock.
    ``both_hold`` (a barrier) makes the unordered pair each take its first lock before going on.
    """
    first, second = sorted((src, dst)) if ordered else (src, dst)
    opening.wait(PATIENCE)
    tl.state("blocked", f"lock {first}")
    with locks[first]:
        tl.state("holding", f"lock {first}")
        time.sleep(0.1)                   # some work while holding the first lock
        if both_hold is not None:
            both_hold.wait(PATIENCE)      # the worst case, every run: both hold their first lock
        tl.state("blocked", f"lock {second}")
        with locks[second]:
            tl.state("holding", f"locks {first}+{second}")
            accounts[src].value -= amount
            accounts[dst].value += amount
            tl.state("running")
    tl.state("exited")


def transfer_both_ways(tl: Timeline, ordered: bool) -> dict[str, int]:
    """Run A->B (10) and B->A (30) transfers at the same time; return the final balances."""
    locks = {"A": multiprocessing.Lock(), "B": multiprocessing.Lock()}
    accounts = {"A": multiprocessing.Value("i", 100, lock=False), "B": multiprocessing.Value("i", 100, lock=False)}
    opening = multiprocessing.Barrier(2)
    both_hold = None if ordered else multiprocessing.Barrier(2)
    procs = [multiprocessing.Process(target=transfer, name=f"transfer {src}->{dst}",
                                     args=(tl, locks, accounts, src, dst, amount, opening, ordered, both_hold))
             for src, dst, amount in (("A", "B", 10), ("B", "A", 30))]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return {name: value.value for name, value in accounts.items()}
