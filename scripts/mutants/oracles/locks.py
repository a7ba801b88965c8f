"""03_locks: withdraw, book_ticket, transfer with real processes, real locks and jittery shared state."""
from __future__ import annotations

import multiprocessing
import time

from . import Violation, join_all, oracle, pause

EXERCISES = ("withdraw", "book_ticket", "transfer")


class Account:
    """A balance in shared memory whose reads and writes take a random while (so races show)."""

    def __init__(self, balance: int, jitter: float, fail: bool = False):
        self._value = multiprocessing.RawValue("q", balance)
        self.jitter = jitter
        self.fail = fail

    def get(self) -> int:
        pause(self.jitter)
        if self.fail:
            raise RuntimeError("the bank is closed")
        value = self._value.value
        pause(self.jitter)
        return value

    def set(self, value: int) -> None:
        pause(self.jitter)
        self._value.value = value
        pause(self.jitter)

    @property
    def balance(self) -> int:
        return self._value.value


def _report_errors(errors, fn, *args) -> None:
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001 (reported to the oracle)
        errors.put(f"{type(exc).__name__}: {exc}"[:200])


def _drain(simple_queue) -> list:
    items = []
    while not simple_queue.empty():        # a SimpleQueue written by processes that have exited: nothing in flight
        items.append(simple_queue.get())
    return items


# ------------------------------------------------------------------ withdraw

def _withdrawer(withdraw, lock, account, amounts, barrier, errors) -> None:
    barrier.wait()
    for amount in amounts:
        _report_errors(errors, withdraw, lock, account, amount)


def _holder(lock, barrier, seconds: float) -> None:
    with lock:
        barrier.wait()
        time.sleep(seconds)


def _failing_withdraw(withdraw, lock, account) -> None:
    try:
        withdraw(lock, account, 5)
    except BaseException:  # noqa: BLE001, S110 (the error may propagate; only the lock matters)
        pass


@oracle("withdraw", timeout=15)
def withdraw_trial(student, rng) -> None:
    lock = multiprocessing.Lock()
    jitter = rng.choice([0.0005, 0.002, 0.01])
    account = Account(10_000, jitter)
    workers, per = rng.randint(2, 5), rng.randint(1, 3)
    amounts = [[rng.randint(1, 50) for _ in range(per)] for _ in range(workers)]
    hold = rng.choice([0.0, 0.0, rng.uniform(0.01, 0.3), rng.uniform(0.5, 2.0)])
    barrier = multiprocessing.Barrier(workers + (1 if hold else 0))
    errors = multiprocessing.SimpleQueue()
    procs = [multiprocessing.Process(target=_withdrawer, args=(student.withdraw, lock, account, a, barrier, errors))
             for a in amounts]
    if hold:
        procs.append(multiprocessing.Process(target=_holder, args=(lock, barrier, hold)))
    for p in procs:
        p.start()
    join_all(procs, 8, "withdrawals")
    raised = _drain(errors)
    if raised:
        raise Violation("raises", raised[0])
    expected = 10_000 - sum(map(sum, amounts))
    if account.balance != expected:
        setting = f"{workers} processes x {per} withdrawals, jitter {jitter * 1000:g} ms"
        if hold >= 0.5:
            raise Violation("loses a withdrawal while another process holds the lock",
                            f"balance {account.balance}, expected {expected} ({setting}, lock held {hold:.2f} s)")
        raise Violation("loses an update", f"balance {account.balance}, expected {expected} ({setting})")
    if rng.random() < 0.4:
        p = multiprocessing.Process(target=_failing_withdraw, args=(student.withdraw, lock, Account(100, 0, True)))
        p.start()
        join_all([p], 5, "a withdrawal from an account that raises")
        if not lock.acquire(timeout=1):
            raise Violation("keeps the lock when the account raises", "the lock was still held after the call")
        lock.release()


# ------------------------------------------------------------------ book_ticket

class TicketDB:
    """Tickets in shared memory; query() waits a while for another query so concurrency is observable."""

    def __init__(self, tickets: int, buyers: int, jitter: float, rendezvous: float):
        self._tickets = multiprocessing.RawValue("q", tickets)
        self._records = multiprocessing.RawArray("i", 64)
        self._count = multiprocessing.RawValue("i", 0)
        self._mutex = multiprocessing.Lock()                     # the oracle's own, not the student's
        self._querying = multiprocessing.RawValue("i", 0)
        self._overlapped = multiprocessing.RawValue("i", 0)
        self._order = multiprocessing.RawArray("i", buyers + 1)  # 1 queried first, 2 read before querying
        self.jitter = jitter
        self.rendezvous = rendezvous
        self.buyer = 0                                           # set in each buyer process

    def query(self) -> int:
        with self._mutex:
            self._querying.value += 1
            if self._querying.value >= 2:
                self._overlapped.value = 1
            if self._order[self.buyer] == 0:
                self._order[self.buyer] = 1
        give_up = time.monotonic() + self.rendezvous
        while not self._overlapped.value and time.monotonic() < give_up:
            time.sleep(0.002)
        pause(self.jitter)
        with self._mutex:
            self._querying.value -= 1
        return self._tickets.value

    def get(self) -> int:
        with self._mutex:
            if self._order[self.buyer] == 0:
                self._order[self.buyer] = 2
        pause(self.jitter)
        value = self._tickets.value
        pause(self.jitter)
        return value

    def set(self, value: int) -> None:
        pause(self.jitter)
        self._tickets.value = value
        pause(self.jitter)

    def record(self, name: str) -> None:
        with self._mutex:
            self._records[self._count.value] = int(name.rsplit("-", 1)[1])
            self._count.value += 1

    def state(self) -> tuple[int, list[int], bool, list[int]]:
        return (self._tickets.value, sorted(self._records[:self._count.value]), bool(self._overlapped.value),
                list(self._order))


def _buyer(book_ticket, lock, db, i, barrier, answers, errors) -> None:
    db.buyer = i
    barrier.wait()
    try:
        got = book_ticket(lock, db, f"buyer-{i}")
    except BaseException as exc:  # noqa: BLE001
        errors.put(f"{type(exc).__name__}: {exc}"[:200])
        return
    answers[i] = 1 if got is True else 0 if got is False else 2


@oracle("book_ticket", timeout=14)
def book_ticket_trial(student, rng) -> None:
    lock = multiprocessing.Lock()
    tickets, buyers = rng.randint(0, 3), rng.randint(2, 6)
    db = TicketDB(tickets, buyers, rng.choice([0, 0.001, 0.005, 0.02]), rendezvous=1.0)
    answers = multiprocessing.RawArray("i", [-1] * (buyers + 1))
    hold = rng.choice([0.0, 0.0, rng.uniform(0.3, 1.5)])              # another process holds the lock a while
    barrier, errors = multiprocessing.Barrier(buyers + (1 if hold else 0)), multiprocessing.SimpleQueue()
    procs = [multiprocessing.Process(target=_buyer, args=(student.book_ticket, lock, db, i, barrier, answers, errors))
             for i in range(1, buyers + 1)]
    if hold:
        procs.append(multiprocessing.Process(target=_holder, args=(lock, barrier, hold)))
    for p in procs:
        p.start()
    join_all(procs, 10, "buyers")
    raised = _drain(errors)
    if raised:
        raise Violation("raises", raised[0])
    left, recorded, overlapped, order = db.state()
    got = list(answers[1:])
    winners = [i for i in range(1, buyers + 1) if got[i - 1] == 1]
    setting = f"{buyers} buyers for {tickets} ticket(s)" + (f", the lock held {hold:.1f} s by another process"
                                                             if hold else "")
    if 2 in got:
        raise Violation("answer is not True/False", setting)
    if len(winners) > tickets or len(recorded) > tickets or left < 0:
        raise Violation("oversells", f"{setting}: {len(winners)} got True, {len(recorded)} recorded, {left} left")
    if len(winners) != min(tickets, buyers) or left != tickets - len(winners):
        raise Violation("wrong sale", f"{setting}: {len(winners)} got True, {left} left")
    if recorded != winners:
        raise Violation("records the wrong buyers", f"{setting}: recorded {recorded}, True for {winners}")
    if any(o != 1 for o in order[1:]):
        raise Violation("does not query first", f"{setting}: buyers' first call (1 = query, 2 = get, 0 = none): "
                        f"{order[1:]}")
    if not overlapped:
        raise Violation("queries never run at the same time", f"{setting}: each query waited 1 s for another")


# ------------------------------------------------------------------ transfer

class SlowLock:
    """A real lock that, once taken, lets a random while pass (widens every lock-order window)."""

    def __init__(self, jitter: float):
        self.raw = multiprocessing.Lock()
        self.jitter = jitter

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        got = self.raw.acquire(block, timeout)
        if got:
            pause(self.jitter)
        return got

    def release(self) -> None:
        self.raw.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _transferrer(transfer, locks, accounts, moves, barrier, errors) -> None:
    barrier.wait()
    for src, dst, amount in moves:
        _report_errors(errors, transfer, locks, accounts, src, dst, amount)


def _auditor(locks, accounts, total, stop, bad) -> None:
    """Take every lock (sorted), add the balances up: money must never be in flight between accounts."""
    names = sorted(locks)
    while not stop.is_set():
        for name in names:
            locks[name].raw.acquire()
        seen = sum(a.balance for a in accounts.values())
        for name in reversed(names):
            locks[name].raw.release()
        if seen != total:
            bad.value = seen
            return
        pause(0.003)


@oracle("transfer", timeout=14)
def transfer_trial(student, rng) -> None:
    names = rng.sample(["a", "b", "c", "d", "x"], rng.randint(2, 4))       # insertion order is not sorted order
    jitter = rng.choice([0.002, 0.005, 0.01])
    locks = {n: SlowLock(jitter) for n in names}
    start = {n: rng.randint(500, 1000) for n in names}
    accounts = {n: Account(start[n], jitter / 2) for n in names}
    workers = rng.randint(2, 4)
    moves = []
    for _ in range(workers):
        mine = []
        for _ in range(rng.randint(4, 12)):
            src = rng.choice(names)
            dst = src if rng.random() < 0.15 else rng.choice([n for n in names if n != src])
            mine.append((src, dst, rng.randint(1, 40)))
        moves.append(mine)
    expected = dict(start)
    for src, dst, amount in (m for mine in moves for m in mine):
        expected[src] -= amount
        expected[dst] += amount
    barrier, errors = multiprocessing.Barrier(workers), multiprocessing.SimpleQueue()
    stop, bad = multiprocessing.Event(), multiprocessing.RawValue("q", -1)
    auditor = multiprocessing.Process(target=_auditor, args=(locks, accounts, sum(start.values()), stop, bad))
    auditor.start()
    hold = rng.choice([0.0, 0.0, rng.uniform(0.3, 1.5)])              # another process holds a lock a while
    if hold:
        barrier = multiprocessing.Barrier(workers + 1)
    procs = [multiprocessing.Process(target=_transferrer, args=(student.transfer, locks, accounts, m, barrier, errors))
             for m in moves]
    if hold:
        procs.append(multiprocessing.Process(target=_holder, args=(locks[rng.choice(names)].raw, barrier, hold)))
    for p in procs:
        p.start()
    join_all(procs, 8, "crossing transfers (a deadlock?)")
    stop.set()
    join_all([auditor], 3, "the auditor")
    raised = _drain(errors)
    if raised:
        raise Violation("raises", raised[0])
    got = {n: accounts[n].balance for n in names}
    setting = f"{workers} processes, {sum(map(len, moves))} transfers over {names}"
    if got != expected:
        raise Violation("wrong balances", f"{setting}: {got}, expected {expected}")
    if bad.value != -1:
        raise Violation("money in flight while both locks are free", f"{setting}: an auditor holding every lock saw "
                        f"a total of {bad.value}, expected {sum(start.values())}")
