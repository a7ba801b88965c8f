"""04_ipc: pipe_worker, count_words, add_all with real pipes, pools and shared values."""
from __future__ import annotations

import collections
import multiprocessing
import os
import time

from . import Violation, join_all, oracle, pause

EXERCISES = ("pipe_worker", "count_words", "add_all")

WORDS = ["a", "b", "spam", "eggs", "", "ß", "x1"]


# ------------------------------------------------------------------ pipe_worker

def _run_worker(pipe_worker, conn, returned) -> None:
    """Run the answer, then stay alive a while: the parent must see EOF because ``conn`` was closed, not exited."""
    pipe_worker(conn)
    returned.value = 1
    time.sleep(3)


@oracle("pipe_worker", timeout=12)
def pipe_worker_trial(student, rng) -> None:
    parent, child = multiprocessing.Pipe()
    returned = multiprocessing.RawValue("i", 0)
    p = multiprocessing.Process(target=_run_worker, args=(student.pipe_worker, child, returned))
    p.start()
    child.close()
    strings = ["".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4))) for _ in range(rng.randint(0, 8))]
    try:
        i = 0
        while i < len(strings):
            batch = strings[i:i + rng.randint(1, 3)]          # sometimes several before the first answer
            for s in batch:
                parent.send(s)
            for s in batch:
                if not parent.poll(5):
                    raise Violation("no answer", f"no answer to {s!r} within 5 s")
                got = parent.recv()
                if got != s.upper():
                    raise Violation("wrong answer", f"sent {s!r}, got {got!r}")
            i += len(batch)
            pause(0.05)
        parent.send(None)
        if not parent.poll(2.5):
            raise Violation("does not close conn", "no EOF within 2.5 s after None (the worker still ran)")
        try:
            extra = parent.recv()
            raise Violation("answers None", f"after None the worker sent {extra!r}")
        except EOFError:
            pass
        deadline = time.monotonic() + 2
        while not returned.value and time.monotonic() < deadline:
            time.sleep(0.01)
        if not returned.value:
            raise Violation("does not return after None", "")
    finally:
        p.kill()
        p.join()


# ------------------------------------------------------------------ count_words

_tokenized = None     # (RawArray of pids, RawValue count, Lock) for the current trial


def slow_tokenize(line: str) -> list[str]:
    """The tokenizer handed in: slow enough that the work spreads; records the process it ran in."""
    pids, count, mutex = _tokenized
    with mutex:
        if count.value < len(pids):
            pids[count.value] = os.getpid()
            count.value += 1
    time.sleep(0.03)
    return line.split()


@oracle("count_words", timeout=15)
def count_words_trial(student, rng) -> None:
    global _tokenized
    vocabulary = [f"w{k}" for k in range(rng.choice([3, 40]))] + ["ß"]     # many shared words: merges collide
    lines = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(4, 32))]
    n_workers = rng.choice([1, 2, 3, 3, 4])
    _tokenized = (multiprocessing.RawArray("q", 256), multiprocessing.RawValue("i", 0), multiprocessing.Lock())
    got = student.count_words(lines, n_workers, slow_tokenize)
    expected = dict(collections.Counter(w for line in lines for w in line.split()))
    pids = set(_tokenized[0][:_tokenized[1].value])
    setting = f"{len(lines)} lines, {n_workers} workers"
    if os.getpid() in pids:
        raise Violation("tokenizes in the caller", setting)
    if not isinstance(got, dict) or dict(got) != expected:
        raise Violation("wrong counts", f"{setting}: got {got!r}, expected {expected}")
    if len(pids) > n_workers:
        raise Violation("more processes than n_workers", f"{setting}: tokenize ran in {len(pids)} processes")
    if n_workers >= 2 and len(pids) < 2:
        raise Violation("the work does not spread", f"{setting}: tokenize ran in {len(pids)} process(es)")


# ------------------------------------------------------------------ add_all

class SlowValue:
    """A ``Value``-like total whose reads and writes take a random while; ``get_lock()`` is a real lock."""

    def __init__(self, jitter: float):
        self._raw = multiprocessing.RawValue("q", 0)
        self._lock = multiprocessing.RLock()
        self.jitter = jitter

    def get_lock(self):
        return self._lock

    @property
    def value(self) -> int:
        pause(self.jitter)
        return self._raw.value

    @value.setter
    def value(self, v: int) -> None:
        pause(self.jitter)
        self._raw.value = v


def _adder(add_all, total, numbers, barrier, errors) -> None:
    barrier.wait()
    try:
        add_all(total, numbers)
    except BaseException as exc:  # noqa: BLE001
        errors.value = 1
        raise exc


@oracle("add_all", timeout=15)
def add_all_trial(student, rng) -> None:
    total = SlowValue(rng.choice([0.0005, 0.002, 0.005]))
    workers = rng.randint(2, 4)
    lists = [[rng.randint(-5, 20) for _ in range(rng.randint(0, 12))] for _ in range(workers)]
    barrier, errors = multiprocessing.Barrier(workers), multiprocessing.RawValue("i", 0)
    procs = [multiprocessing.Process(target=_adder, args=(student.add_all, total, numbers, barrier, errors))
             for numbers in lists]
    hold = rng.random() < 0.3          # the caller holds the lock a while: a short acquire timeout must not write
    if hold:
        total.get_lock().acquire()
    for p in procs:
        p.start()
    if hold:
        time.sleep(0.5)
        total.get_lock().release()
    join_all(procs, 10, "add_all")
    if errors.value:
        raise Violation("raises", "")
    if total._raw.value != sum(map(sum, lists)):
        raise Violation("loses an update", f"{workers} processes: total {total._raw.value}, expected "
                        f"{sum(map(sum, lists))}")
