"""Instrumented shared objects that make a race show up every time, not by luck.

They live in the judge (``mpcourse.judge``); the student's processes get proxies
(``mpcourse.stage``). An ``Arena`` holds N *participants*: processes the stage starts
for the check and the judge releases together. Every instrumented step — reading an
account, writing it, querying the ticket counter, taking a lock — is a request the
judge answers only once every other participant is stuck too: paused at its own step,
waiting for a lock someone holds, or finished. So when the code under test lets two
processes into a read-modify-write at once, both read before either writes: the lost
update happens on every run, on every start method, however loaded the machine. A
correct solution never waits long, because the others are waiting for its lock.

The judge keeps the balances, the lock table and the event log itself, with its own
clock, so nothing a participant does can change what the verdict is computed from.
"""
from __future__ import annotations

import time

from .judge import STARTUP_ALLOWANCE, Call, Judge, JudgeObject, NotWrittenYet, Peer, Refusal, StageLost
from .timeline import Event

_NOT_STARTED, _RUNNING, _PAUSED, _SETTLING, _WAITING, _DONE = range(6)
CHECKER = ("checker",)


class Deadlock(Exception):
    """Participants wait for each other in a cycle."""

    def __init__(self, cycle: list[tuple[int, str, int]], names: dict[int, str]):
        self.cycle = cycle
        parts = []
        for slot, lock, holder in cycle:
            if holder == slot:
                parts.append(f"{names[slot]} waits for {lock!r}, which it already holds")
            else:
                parts.append(f"{names[slot]} waits for {lock!r}, held by {names[holder]}")
        super().__init__("; ".join(parts))


class LockNeverReleased(Exception):
    """A participant returned holding a lock that others wait for: they would wait forever."""

    def __init__(self, lock: str, holder: str, waiting: list[str]):
        super().__init__(f"{holder} returned with {lock!r} still held, so {', '.join(waiting)} waited for it "
                         "forever: release the lock on every path out of the function (`with lock:` does; a "
                         "`return` before `lock.release()` skips it)")


class ParticipantsTooSlow(TimeoutError):
    """The participants did not all return in time (no deadlock, no lock left held): the student's code hangs."""


class Arena(JudgeObject):
    """The participants of one check and the scheduler that forces the worst interleaving."""

    kind = "arena"

    def __init__(self, judge: Judge, participants: int, patience: float = 2.0):
        super().__init__(judge, "arena")
        self.participants = participants
        self.patience = patience
        self.state = [_NOT_STARTED] * participants
        self.waiting_for: list[ArenaLock | None] = [None] * participants
        self.held = [0] * participants
        self.names = {j: f"participant {j + 1}" for j in range(participants)}
        self.entered: set[int] = set()
        self.generation = 0
        self.locks: list[ArenaLock] = []

    # -- objects ------------------------------------------------------------------------
    def lock(self, name: str = "lock") -> ArenaLock:
        return ArenaLock(self, name)

    def account(self, name: str = "account", balance: int = 0, fail: bool = False) -> ArenaAccount:
        return ArenaAccount(self, name, balance, fail)

    def tickets(self, tickets: int) -> ArenaTickets:
        return ArenaTickets(self, tickets)

    def counter(self, name: str = "total", value: int = 0) -> ArenaCounter:
        return ArenaCounter(self, name, value)

    # -- participants ---------------------------------------------------------------------
    def _slot(self, peer: Peer) -> int | None:
        slot = peer.slot
        return slot if isinstance(slot, int) and 0 <= slot < self.participants else None

    def greet(self, peer: Peer) -> None:
        slot = self._slot(peer)
        if slot is None:
            return
        with self.judge.cv:
            self.names[slot] = peer.name
            if self.state[slot] == _NOT_STARTED:
                self.state[slot] = _RUNNING
            self.judge.cv.notify_all()
        self.judge.record("state", "running", peer=peer)

    def enter(self, peer: Peer) -> None:
        """A participant is ready: it waits here until every participant is (they start together)."""
        slot = self._slot(peer)
        if slot is None:
            return
        deadline = time.monotonic() + STARTUP_ALLOWANCE
        with self.judge.cv:
            self.entered.add(slot)
            self.judge.cv.notify_all()
            while len(self.entered) < self.participants and time.monotonic() < deadline:
                if self.judge.closed or any(self.state[j] == _DONE for j in range(self.participants)):
                    break
                self.judge.cv.wait(0.05)

    def gone(self, peer: Peer) -> None:
        slot = self._slot(peer)
        if slot is None or peer.call is None:
            return
        with self.judge.cv:
            if self.state[slot] != _DONE:
                self.state[slot] = _DONE
                self.judge.record("state", "exited", peer=peer)
            self.judge.cv.notify_all()

    def all_entered(self) -> bool:
        with self.judge.lock:
            return len(self.entered) == self.participants

    # -- the scheduler ----------------------------------------------------------------------
    def _stuck(self, j: int) -> bool:
        state = self.state[j]
        if state in (_PAUSED, _DONE):
            return True
        lock = self.waiting_for[j]
        return state == _WAITING and lock is not None and lock.holder is not None

    def pause(self, peer: Peer) -> None:
        """End this step: wait until every participant is stuck, then all go on together."""
        me = self._slot(peer)
        if me is None:
            return
        cv = self.judge.cv
        deadline = time.monotonic() + self.patience
        with cv:
            self.state[me] = _PAUSED
            generation = self.generation
            cv.notify_all()
            while self.generation == generation and not self.judge.closed:
                if all(self._stuck(j) for j in range(self.participants)):
                    self.generation += 1
                    for j in range(self.participants):
                        if self.state[j] == _PAUSED:
                            self.state[j] = _RUNNING
                    cv.notify_all()
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                cv.wait(min(left, 0.05))
            self.state[me] = _RUNNING
            cv.notify_all()

    def settle(self, peer: Peer) -> None:
        """Before a write: let the others released with us reach their next step first."""
        me = self._slot(peer)
        if me is None:
            return
        cv = self.judge.cv
        deadline = time.monotonic() + self.patience
        with cv:
            self.state[me] = _SETTLING
            cv.notify_all()
            while not self.judge.closed:
                if all(self._stuck(j) or self.state[j] == _SETTLING for j in range(self.participants) if j != me):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                cv.wait(min(left, 0.05))
            self.state[me] = _RUNNING
            cv.notify_all()

    def base_state(self, peer: Peer) -> str:
        slot = self._slot(peer)
        return "holding" if slot is not None and self.held[slot] else "running"

    # -- deadlock ----------------------------------------------------------------------------
    def deadlock(self) -> list[tuple[int, str, int]] | None:
        """A cycle of participants each waiting for a lock the next one holds, if there is one."""
        with self.judge.lock:
            waits = {j: self.waiting_for[j] for j in range(self.participants)
                     if self.state[j] == _WAITING and self.waiting_for[j] is not None}
            next_of = {}
            for j, lock in waits.items():
                holder = lock.holder
                next_of[j] = holder[1] if holder and holder[0] == "slot" else None
        for start in next_of:
            path, j = [], start
            while j is not None and j in next_of and j not in path:
                path.append(j)
                j = next_of[j]
            if j is not None and j in path:
                cycle = path[path.index(j):]
                return [(s, waits[s].name, next_of[s]) for s in cycle]
        return None

    # -- running the participants --------------------------------------------------------------
    def run(self, func, arg_lists: list[tuple], name: str = "worker", timeout: float = 10.0) -> list[Call]:
        """Start one participant per argument tuple in the stage, watch for deadlock, wait for them all.

        ``timeout`` counts from the moment every participant has started. Raises
        ``Deadlock`` as soon as the participants wait for each other in a cycle.
        """
        judge = self.judge
        calls = [judge.call(func, *args, mode="process", name=f"{name}-{slot + 1}", slot=slot)
                 for slot, args in enumerate(arg_lists)]
        deadline = time.monotonic() + timeout + STARTUP_ALLOWANCE
        started = False
        previous = previous_left_held = None
        with judge.cv:
            while not all(c.exited.is_set() for c in calls):
                if not started and len(self.entered) == self.participants:
                    started, deadline = True, time.monotonic() + timeout
                cycle = self.deadlock()
                if cycle and cycle == previous:
                    raise Deadlock(cycle, dict(self.names))
                previous = cycle
                left_held = self._left_held(calls)
                if left_held and left_held == previous_left_held:
                    raise LockNeverReleased(*left_held)
                previous_left_held = left_held
                if judge.lost.is_set():
                    raise StageLost("the checking process ended")
                if time.monotonic() > deadline:
                    raise ParticipantsTooSlow(f"the {name} processes did not finish in {timeout:g} s")
                judge.cv.wait(0.02)
        if any(c.status == "raised" and c.error_type == "NotImplementedError" for c in calls):
            raise NotWrittenYet()
        return calls


    def _left_held(self, calls: list[Call]) -> tuple[str, str, list[str]] | None:
        """(lock, holder, waiters) when a participant that has returned holds a lock others wait for."""
        for lock in self.locks:
            holder = lock.holder
            if not holder or holder[0] != "slot" or not (0 <= holder[1] < len(calls)):
                continue
            if not calls[holder[1]].exited.is_set():
                continue
            waiting = [self.names[j] for j, wanted in enumerate(self.waiting_for)
                       if wanted is lock and self.state[j] == _WAITING]
            if waiting:
                return lock.name, self.names[holder[1]], sorted(waiting)
        return None


def first_error(calls: list[Call]) -> Call | None:
    """The first participant whose student code raised, if any."""
    return next((c for c in calls if c.status == "raised"), None)


class ArenaLock(JudgeObject):
    """A lock whose table (who holds it, who waits) the judge keeps; proxies: ``mpcourse.stage.TrackedLock``."""

    kind = "lock"

    def __init__(self, arena: Arena, name: str, reentrant: bool = False):
        super().__init__(arena.judge, name)
        self.arena = arena
        self.reentrant = reentrant     # an RLock: its holder may take it again (and must release it as often)
        self.depth = 0
        self.holder: tuple | None = None
        self.pending_timeouts = 0      # acquires with a timeout that are waiting now
        self.timeouts_expired = 0      # acquires that gave up at their timeout
        self.refused = 0               # acquires that returned False (a timeout, or block=False on a held lock)
        self.last_expiry = 0.0
        arena.locks.append(self)

    def _owner(self, peer: Peer) -> tuple:
        slot = self.arena._slot(peer)
        return ("slot", slot) if slot is not None else ("peer", id(peer))

    def handle(self, peer: Peer, op: str, args: list):
        if op == "acquire":
            block = bool(args[0]) if args else True
            timeout = args[1] if len(args) > 1 and isinstance(args[1], (int, float)) else None
            return self.acquire(peer, block, timeout)
        if op == "release":
            return self.release(peer)
        if op == "locked":
            return self.holder is not None
        raise Refusal("AttributeError", f"a lock has no {op!r}")

    def acquire(self, peer: Peer, block: bool, timeout: float | None) -> bool:
        arena, judge = self.arena, self.judge
        slot = arena._slot(peer)
        cv = judge.cv
        with cv:
            if self.reentrant and self.holder is not None and self.holder == self._owner(peer):
                self.depth += 1
                return True
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
        with cv:
            if slot is not None:
                arena.state[slot] = _WAITING
                arena.waiting_for[slot] = self
                judge.record("state", "waiting", self.name, peer=peer)
                cv.notify_all()
            got = False
            timed = block and deadline is not None
            self.pending_timeouts += timed
            while not judge.closed:
                if self.holder is None:
                    got = True
                    break
                if not block:
                    break
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0 and not self._holder_at_work():
                    self.timeouts_expired += 1
                    self.last_expiry = time.monotonic()
                    break
                cv.wait(0.05 if left is None or left <= 0 else min(left, 0.05))
            self.pending_timeouts -= timed
            if got:
                self.holder = self._owner(peer)
                self.depth = 1
                if slot is not None:
                    arena.held[slot] += 1
            else:
                self.refused += 1
            if slot is not None:
                arena.state[slot] = _RUNNING
                arena.waiting_for[slot] = None
            judge.record("state", "holding" if got else arena.base_state(peer), self.name if got else "", peer=peer)
            cv.notify_all()
        if got:
            arena.pause(peer)          # let the others reach their own first lock
        return got

    def _holder_at_work(self) -> bool:
        """A participant holds the lock and is on its way to release it (not waiting for a lock, not returned).

        A timed acquire then waits on past its timeout: how long a participant's few steps
        take is the machine's load, not the code, so a timeout that ran out there would
        decide a verdict by luck. It gives up only when the checker holds the lock past it
        (``hold``, the checks of giving up), or when the holder waits itself (a deadlock to
        back out of) or has returned.
        """
        holder = self.holder
        return bool(holder) and holder[0] == "slot" and self.arena.state[holder[1]] in (_RUNNING, _PAUSED, _SETTLING)

    def release(self, peer: Peer) -> None:
        arena, judge = self.arena, self.judge
        slot = arena._slot(peer)
        with judge.cv:
            if self.holder is None:
                raise Refusal("ValueError", "semaphore or lock released too many times")
            if self.reentrant and self.depth > 1 and self.holder == self._owner(peer):
                self.depth -= 1
                return None
            if slot is not None and arena.held[slot]:
                arena.held[slot] -= 1
            judge.record("state", arena.base_state(peer), peer=peer)      # before the release: holds never overlap
            self.holder = None
            judge.cv.notify_all()
        arena.pause(peer)              # hand the lock to a waiter before we could take it back

    def hold(self, name: str = "the checker") -> None:
        """The checker takes the lock itself (e.g. to hold it longer than a student's acquire timeout)."""
        with self.judge.cv:
            self.holder = CHECKER
            self.judge.record("state", "holding", self.name, name=name, pid=0)
            self.judge.cv.notify_all()

    def free(self, name: str = "the checker") -> None:
        with self.judge.cv:
            if self.holder == CHECKER:
                self.holder = None
                self.judge.record("state", "running", name=name, pid=0)
            self.judge.cv.notify_all()

    def is_free(self) -> bool:
        return self.holder is None


class ArenaAccount(JudgeObject):
    """A balance the judge keeps: ``get()`` and ``set(value)``, each a recorded, paused step."""

    kind = "account"

    def __init__(self, arena: Arena, name: str, balance: int, fail: bool = False):
        super().__init__(arena.judge, name)
        self.arena = arena
        self.balance = balance
        self.fail = fail

    def handle(self, peer: Peer, op: str, args: list):
        if op == "get":
            if self.fail:
                self.judge.record("mark", f"{self.name}.get failed", peer=peer)
                raise Refusal("ConnectionError", f"{self.name} is offline")
            value = self.balance
            self.judge.record("mark", "get", f"{self.name}={value}", peer=peer)
            self.arena.pause(peer)                   # read done, write not yet: the window a race needs
            return value
        if op == "set" and len(args) == 1:
            if self.fail:
                raise Refusal("ConnectionError", f"{self.name} is offline")
            self.arena.pause(peer)
            self.arena.settle(peer)
            self.balance = args[0]
            self.judge.record("mark", "set", f"{self.name}={args[0]!r}", peer=peer)
            return None
        raise Refusal("AttributeError", f"an account has no {op!r}")


class ArenaTickets(JudgeObject):
    """The ticket counter: ``query()`` (read-only, slow), ``get()``, ``set(n)``, ``record(name)``."""

    kind = "tickets"

    def __init__(self, arena: Arena, tickets: int):
        super().__init__(arena.judge, "tickets")
        self.arena = arena
        self.tickets = tickets
        self.buyers: list[str] = []

    def handle(self, peer: Peer, op: str, args: list):
        judge, arena = self.judge, self.arena
        if op == "query":
            judge.record("state", "querying", peer=peer)
            left = self.tickets
            arena.pause(peer)                       # every buyer may look at the same time
            judge.record("state", arena.base_state(peer), peer=peer)
            return left
        if op == "get":
            value = self.tickets
            judge.record("mark", "get", f"tickets={value}", peer=peer)
            arena.pause(peer)
            return value
        if op == "set" and len(args) == 1:
            arena.pause(peer)
            arena.settle(peer)
            self.tickets = args[0]
            judge.record("mark", "set", f"tickets={args[0]!r}", peer=peer)
            return None
        if op == "record" and len(args) == 1:
            self.buyers.append(str(args[0])[:40])
            judge.record("mark", "record", str(args[0])[:40], peer=peer)
            return None
        raise Refusal("AttributeError", f"the ticket counter has no {op!r}")


class ArenaCounter(JudgeObject):
    """A ``multiprocessing.Value``-like number: ``.value`` reads and writes are recorded, paused steps."""

    kind = "counter"

    def __init__(self, arena: Arena, name: str, value: int):
        super().__init__(arena.judge, name)
        self.arena = arena
        self.value = value
        self.lock = ArenaLock(arena, f"{name}.get_lock()", reentrant=True)      # as multiprocessing.Value's RLock

    def _extra(self) -> list:
        return [self.lock.oid]

    def handle(self, peer: Peer, op: str, args: list):
        if op == "get":
            value = self.value
            self.judge.record("mark", "get", f"{self.name}={value}", peer=peer)
            self.arena.pause(peer)
            return value
        if op == "set" and len(args) == 1:
            self.arena.pause(peer)
            self.arena.settle(peer)
            self.value = args[0]
            self.judge.record("mark", "set", f"{self.name}={args[0]!r}", peer=peer)
            return None
        raise Refusal("AttributeError", f"a Value has no {op!r}")


def writes_without_both_locks(events: list[Event], names: tuple[str, ...]) -> list[tuple[float, float]]:
    """Read-to-write windows of ``names`` whose write came while fewer than two locks were held.

    Decodes the lock events: ("holding", lock) on acquire; a release records the
    process's base state with no lock named, and so does a failed acquire, told apart
    by the "waiting" state just before it.
    """
    held: dict[int, int] = {}
    previous: dict[int, str] = {}
    last_read: dict[tuple[int, str], float] = {}
    found = []
    for e in events:
        if e.kind == "state":
            if e.what == "holding" and e.detail:
                held[e.pid] = held.get(e.pid, 0) + 1
            elif e.what in ("holding", "running") and previous.get(e.pid) != "waiting" and held.get(e.pid):
                held[e.pid] -= 1
            previous[e.pid] = e.what
            continue
        account = e.detail.split("=")[0]
        if e.kind != "mark" or account not in names:
            continue
        if e.what == "get":
            last_read[(e.pid, account)] = e.t
        elif e.what == "set" and held.get(e.pid, 0) < 2:
            found.append((last_read.pop((e.pid, account), e.t), e.t))
    return found
