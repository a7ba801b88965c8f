"""Instrumented shared objects that make a race show up every time, not by luck.

An ``Arena`` holds N *participants* (child processes released together by a
barrier). Every instrumented step — reading an ``Account``, writing it, querying a
``TicketDB``, taking a ``TrackedLock`` — *pauses* the participant until every other
participant is stuck too: paused at its own step, waiting for a lock someone holds,
or finished. So when the code under test lets two processes into a
read-modify-write at once, they both get there before either goes on: the lost
update happens on every run, on every start method, however loaded the machine.
A correct solution never waits long, because the others are waiting for its lock.

Each step is also recorded on a ``Timeline`` (reads, writes, lock waits and holds),
so a check judges what really happened and can draw it.
"""
from __future__ import annotations

import multiprocessing
import sys
import time

from .timeline import Timeline

_NOT_STARTED, _RUNNING, _PAUSED, _WAITING, _DONE, _SETTLING = 0, 1, 2, 3, 4, 5
_OUTSIDER = 10_000           # "held by a process that is not a participant"
_STARTUP_ALLOWANCE = 60.0    # seconds for every participant to start (spawn on a loaded machine is slow)

# process-local: which arena slot this process plays, and how many tracked locks it holds
_slot: int | None = None
_held = 0


class Arena:
    """Shared state that lets instrumented objects force the worst interleaving."""

    def __init__(self, participants: int, timeline: Timeline | None = None, patience: float = 2.0,
                 max_locks: int = 8):
        ctx = multiprocessing.get_context()
        self.participants = participants
        self.timeline = timeline or Timeline()
        self.patience = patience
        self._state = ctx.RawArray("i", participants)
        self._waiting_for = ctx.RawArray("i", participants)
        self._holder = ctx.RawArray("i", max_locks)    # slot + 1 of the holder, or 0
        self._lock_names = ctx.Array("c", 32 * max_locks)
        self._n_locks = ctx.RawValue("i", 0)
        self._generation = ctx.RawValue("q", 0)
        self._guard = ctx.Lock()
        self._barrier = ctx.Barrier(participants)

    # -- participants ------------------------------------------------------------------
    def enter(self, slot: int, release_together: bool = True) -> None:
        """Called first in each participant's process: take a slot, start with the others."""
        global _slot, _held
        _slot, _held = slot, 0
        with self._guard:
            self._state[slot] = _RUNNING
        self.timeline.state("running")
        if release_together:
            try:
                self._barrier.wait(_STARTUP_ALLOWANCE)
            except Exception:      # a participant died before the barrier: go on without it
                pass

    def all_started(self) -> bool:
        with self._guard:
            return all(self._state[j] != _NOT_STARTED for j in range(self.participants))

    def leave(self) -> None:
        """Called last in each participant's process (in a finally)."""
        global _slot
        if _slot is not None:
            with self._guard:
                self._state[_slot] = _DONE
            self.timeline.state("exited")
            _slot = None

    def pause(self) -> None:
        """End this step: wait until every participant is stuck, then all go on together.

        Stuck means paused here, waiting for a lock that someone holds, or finished.
        Reads happen just before a pause and writes just after one (see ``settle``),
        so when two processes are inside a read-modify-write at once, both read
        before either writes: the race shows on every run.
        """
        me = _slot
        if me is None:
            return
        with self._guard:
            self._state[me] = _PAUSED
            generation = self._generation.value
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            with self._guard:
                if self._generation.value != generation:
                    break
                if all(self._stuck(j) for j in range(self.participants)):
                    self._generation.value = generation + 1
                    for j in range(self.participants):     # release every paused one now, as one
                        if self._state[j] == _PAUSED:
                            self._state[j] = _RUNNING
                    break
            time.sleep(0.0003)
        with self._guard:
            self._state[me] = _RUNNING

    def settle(self) -> None:
        """Before a write: let the others released with us reach their next step first."""
        me = _slot
        if me is None:
            return
        with self._guard:
            self._state[me] = _SETTLING
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            with self._guard:
                if all(self._stuck(j) or self._state[j] == _SETTLING for j in range(self.participants) if j != me):
                    break
            time.sleep(0.0003)
        with self._guard:
            self._state[me] = _RUNNING

    def _stuck(self, j: int) -> bool:
        state = self._state[j]
        if state in (_PAUSED, _DONE):
            return True
        return state == _WAITING and self._holder[self._waiting_for[j]] != 0

    # -- locks -----------------------------------------------------------------------
    def _new_lock(self, name: str) -> int:
        with self._guard:
            index = self._n_locks.value
            if index >= len(self._holder):
                raise ValueError("too many tracked locks in one arena")
            self._n_locks.value = index + 1
            encoded = name.encode()[:31].ljust(32, b"\0")
            self._lock_names[index * 32:(index + 1) * 32] = encoded
        return index

    def lock_name(self, index: int) -> str:
        return bytes(self._lock_names[index * 32:(index + 1) * 32]).rstrip(b"\0").decode()

    def deadlock(self) -> list[tuple[int, str, int]] | None:
        """A cycle of participants each waiting for a lock the next one holds, if there is one.

        Returns [(slot, name of the lock it waits for, slot holding that lock), ...]; a
        waiting process releases nothing, so such a cycle never resolves on its own.
        """
        with self._guard:
            waits = {j: self._waiting_for[j] for j in range(self.participants) if self._state[j] == _WAITING}
            holder = {i: self._holder[i] - 1 for i in range(self._n_locks.value)
                      if 0 < self._holder[i] <= self.participants}
        next_of = {j: holder.get(lock) for j, lock in waits.items()}
        for start in next_of:
            path, j = [], start
            while j is not None and j in next_of and j not in path:
                path.append(j)
                j = next_of[j]
            if j is not None and j in path:
                cycle = path[path.index(j):]
                return [(s, self.lock_name(waits[s]), next_of[s]) for s in cycle]
        return None


class TrackedLock:
    """A multiprocessing.Lock that records who waits for it and who holds it."""

    def __init__(self, arena: Arena, name: str = "lock"):
        self.arena = arena
        self.name = name
        self._index = arena._new_lock(name)
        self._lock = multiprocessing.get_context().Lock()

    def acquire(self, block: bool = True, timeout: float | None = None) -> bool:
        global _held
        arena, me = self.arena, _slot
        if me is not None:
            with arena._guard:
                arena._state[me] = _WAITING
                arena._waiting_for[me] = self._index
            arena.timeline.state("waiting", self.name)
        got = self._lock.acquire(block, timeout)
        with arena._guard:
            if got:
                arena._holder[self._index] = _OUTSIDER if me is None else me + 1
            if me is not None:
                arena._state[me] = _RUNNING
        if got:
            _held += 1
            arena.timeline.state("holding", self.name)
            arena.pause()          # let the others reach their own first lock
        elif me is not None:
            arena.timeline.state(_base_state())
        return got

    def release(self) -> None:
        global _held
        _held = max(_held - 1, 0)
        self.arena.timeline.state(_base_state())     # before the release, so holds never overlap
        with self.arena._guard:
            self.arena._holder[self._index] = 0
        self._lock.release()
        self.arena.pause()         # hand the lock to a waiter before we could take it back

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<TrackedLock {self.name!r}>"


def _base_state() -> str:
    return "holding" if _held else "running"


def writes_without_both_locks(events: list, names: tuple[str, ...]) -> list[tuple[float, float]]:
    """Read-to-write windows of ``names`` whose write came while fewer than two TrackedLocks were held.

    Decodes TrackedLock's events: ("holding", lock) on acquire; a release records the
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


class Account:
    """A bank balance in shared memory: ``get()`` and ``set(value)``, each a recorded, paused step."""

    def __init__(self, arena: Arena, balance: int, name: str = "account", fail: bool = False):
        self.arena = arena
        self.name = name
        self.fail = fail
        self._value = multiprocessing.get_context().RawValue("q", balance)

    def get(self) -> int:
        if self.fail:
            self.arena.timeline.mark(f"{self.name}.get failed")
            raise ConnectionError(f"{self.name} is offline")
        value = self._value.value
        self.arena.timeline.mark("get", f"{self.name}={value}")
        self.arena.pause()             # read done, write not yet: the window a race needs
        return value

    def set(self, value: int) -> None:
        if self.fail:
            raise ConnectionError(f"{self.name} is offline")
        self.arena.pause()
        self.arena.settle()
        self._value.value = value
        self.arena.timeline.mark("set", f"{self.name}={value}")

    @property
    def balance(self) -> int:
        """The balance, read without a step (for the checker)."""
        return self._value.value


class TicketDB:
    """The ticket counter: ``query()`` (read-only, slow), ``get()``, ``set(n)``, ``record(name)``."""

    def __init__(self, arena: Arena, tickets: int):
        self.arena = arena
        self._tickets = multiprocessing.get_context().RawValue("q", tickets)

    def query(self) -> int:
        tl = self.arena.timeline
        tl.state("querying")
        left = self._tickets.value
        self.arena.pause()             # every buyer may look at the same time
        tl.state(_base_state())
        return left

    def get(self) -> int:
        value = self._tickets.value
        self.arena.timeline.mark("get", f"tickets={value}")
        self.arena.pause()
        return value

    def set(self, value: int) -> None:
        self.arena.pause()
        self.arena.settle()
        self._tickets.value = value
        self.arena.timeline.mark("set", f"tickets={value}")

    def record(self, name: str) -> None:
        self.arena.timeline.mark("record", str(name))

    @property
    def tickets(self) -> int:
        return self._tickets.value

    def buyers(self) -> list[str]:
        return [e.detail for e in self.arena.timeline.events() if e.kind == "mark" and e.what == "record"]


class Counter:
    """A ``multiprocessing.Value``-like number: ``.value`` reads and writes are recorded, paused steps."""

    def __init__(self, arena: Arena, value: int = 0, name: str = "total"):
        self.arena = arena
        self.name = name
        self._value = multiprocessing.get_context().RawValue("q", value)
        self._lock = TrackedLock(arena, f"{name}.get_lock()")

    def get_lock(self) -> TrackedLock:
        return self._lock

    @property
    def value(self) -> int:
        value = self._value.value
        self.arena.timeline.mark("get", f"{self.name}={value}")
        self.arena.pause()
        return value

    @value.setter
    def value(self, new: int) -> None:
        self.arena.pause()
        self.arena.settle()
        self._value.value = new
        self.arena.timeline.mark("set", f"{self.name}={new}")

    @property
    def raw(self) -> int:
        """The value, read without a step (for the checker)."""
        return self._value.value


def participate(arena: Arena, slot: int, func, *args):
    """Run ``func(*args)`` as participant ``slot``: released with the others, recorded, paused."""
    arena.enter(slot)
    try:
        return func(*args)
    except Exception as exc:     # recorded for the check, not printed into the student's notebook
        arena.timeline.mark("raised", f"{type(exc).__name__}: {exc}")
        sys.exit(1)
    finally:
        arena.leave()


def run_participants(arena: Arena, func, arg_lists: list[tuple], timeout: float = 10.0,
                     name: str = "worker") -> list:
    """Start one participant process per argument tuple, watch for deadlock, join them all.

    Returns the processes (exitcodes set). Raises ``Deadlock`` as soon as the
    participants wait for each other in a cycle. ``timeout`` counts from the moment
    every participant has started: starting processes is slow on a loaded machine.
    """
    ctx = multiprocessing.get_context()
    procs = [ctx.Process(target=participate, args=(arena, slot, func, *args), name=f"{name}-{slot + 1}")
             for slot, args in enumerate(arg_lists)]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout + _STARTUP_ALLOWANCE
    started = False
    try:
        while any(p.is_alive() for p in procs):
            if not started and arena.all_started():
                started, deadline = True, time.monotonic() + timeout
            cycle = arena.deadlock()
            if cycle and arena.deadlock() == cycle:
                raise Deadlock(cycle, {i: procs[i].name for i in range(len(procs))})
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {name} processes did not finish in {timeout:g} s")
            for p in procs:
                p.join(0.02)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    return procs


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


def current_slot() -> int | None:
    """The participant slot of this process (None outside a participant)."""
    return _slot

