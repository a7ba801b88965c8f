"""Child-process functions of lecture 04 (inter-process communication, 进程间通信).

Children never print: everything they produce travels back through the channel the demo
is about (a pipe, a file, a socket, shared memory, a manager).

Run as ``python -m mpcourse.tasks.ipc write-fd FD TEXT``, it writes TEXT into file
descriptor FD: the child of the ``os.pipe()`` demo. ``python -m mpcourse.tasks.ipc attach
NAME`` attaches to a shared memory block and exits: an unrelated program, for the
resource-tracker demo.
"""
from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import os
import socket
import sys
import threading
import time
from multiprocessing import shared_memory
from multiprocessing.managers import BaseManager

from ..timeline import Timeline

Connection = multiprocessing.connection.Connection


# --- pipes (管道) ---------------------------------------------------------------------------

def answer_lengths(tl: Timeline, conn: Connection) -> None:
    """Duplex pipe, child end: receive strings until None and answer each with its length."""
    while True:
        tl.state("blocked", "recv")
        text = conn.recv()
        if text is None:
            break
        tl.state("blocked", "sleep: counting")
        time.sleep(0.05)                  # a slow answer, so the picture shows who waits for whom
        tl.mark("send")
        conn.send(len(text))
    conn.close()
    tl.state("exited")


def send_three_and_close(conn: Connection) -> None:
    """One-way pipe, sending end: send three items and close our end."""
    for item in ("one", "two", "three"):
        conn.send(item)
    conn.close()


def write_to_fd(fd: int, text: str) -> None:
    """Write ``text`` into an inherited file descriptor (an ``os.pipe()`` write end) and close it."""
    os.write(fd, text.encode())
    os.close(fd)


# --- files and sockets ---------------------------------------------------------------------

def write_squares_to_file(path: str, numbers: list[int]) -> None:
    """Write results to a file the parent reads after join(): the simplest IPC, and the slowest."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump({str(n): n * n for n in numbers}, f)


def send_over_socket(host: str, port: int, message: bytes) -> None:
    """Connect to the parent's listening TCP socket, send ``message``, and close."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(message)


# --- shared memory (共享内存) ----------------------------------------------------------------

def fill_squares(numbers) -> None:
    """Replace each element of a shared ``Array`` by its square, in place."""
    for i in range(len(numbers)):
        numbers[i] = numbers[i] * numbers[i]


def count_up(total, times: int) -> None:
    """Add 1 to a shared ``Value`` ``times`` times; its own lock makes each read-modify-write whole."""
    for _ in range(times):
        with total.get_lock():
            total.value += 1


def shout_in_shared_memory(name: str, size: int) -> None:
    """Attach to a shared memory block by name and upper-case its bytes in place: no copy travels."""
    block = shared_memory.SharedMemory(name=name)
    try:
        block.buf[:size] = bytes(block.buf[:size]).upper()
    finally:
        block.close()                     # detach; the creator unlinks


# --- Manager ---------------------------------------------------------------------------------

def append_many(items, who: str, times: int) -> None:
    """Append to a manager list: one proxy call each; ``list.append`` is atomic under the server's GIL."""
    for i in range(times):
        items.append(f"{who}-{i}")


def decrement_racy(d, rounds: int, both_read: multiprocessing.synchronize.Barrier) -> None:
    """``d["n"] = d["n"] - 1``, spelled as its two proxy calls, with both processes reading before either writes."""
    for _ in range(rounds):
        n = d["n"]                        # proxy call 1: __getitem__
        both_read.wait(30)                # the worst case, every round
        d["n"] = n - 1                    # proxy call 2: __setitem__
        both_read.wait(30)


def decrement_with_lock(d, rounds: int, lock) -> None:
    """The same decrement with both proxy calls under one shared lock."""
    for _ in range(rounds):
        with lock:
            d["n"] = d["n"] - 1


class Tally:
    """A plain class, registered with a manager: its methods run in the manager's server process.

    ``add`` is a read-modify-write in Python code. The server runs each connection's calls
    in a thread of its own, so two ``add`` calls from two processes run at the same time
    and one update is lost. The barrier between the read and the write makes that happen on
    every run; if the server ran calls one at a time, it would time out instead.
    """

    def __init__(self, racers: int = 2):
        self.n = 0
        self._all_read = threading.Barrier(racers, timeout=10)
        self.threads: set[str] = set()

    def add(self, amount: int) -> None:
        self.threads.add(threading.current_thread().name)
        n = self.n                        # read
        self._all_read.wait()             # every caller has read: the calls run at once
        self.n = n + amount               # write

    def value(self) -> int:
        return self.n

    def server_threads(self) -> int:
        """How many different server threads ran ``add``."""
        return len(self.threads)


class TallyManager(BaseManager):
    """A manager whose server owns ``Tally`` objects."""


TallyManager.register("Tally", Tally)


def add_to_tally(tally, amount: int) -> None:
    """One proxy call: ``tally.add(amount)`` runs in the manager's server."""
    tally.add(amount)


def append_slowly(items, go: multiprocessing.synchronize.Event, times: int) -> None:
    """Append to a manager list only after the parent's ``go``: slower than any fixed sleep the parent picks."""
    go.wait(30)
    for i in range(times):
        items.append(i)


# --- throughput: the receiving ends ------------------------------------------------------------

def receive_from_pipe(conn: Connection, count: int) -> None:
    """Say ready, receive ``count`` messages, acknowledge once."""
    conn.send_bytes(b"ready")
    for _ in range(count):
        conn.recv_bytes()
    conn.send_bytes(b"ok")


def receive_from_queue(q, replies, count: int) -> None:
    """Say ready, take ``count`` messages off a queue (a Queue or a Manager's queue), acknowledge once."""
    replies.put("ready")
    for _ in range(count):
        q.get()
    replies.put("ok")


def receive_from_shared_memory(name: str, size: int, filled, emptied, count: int) -> None:
    """Copy ``count`` messages out of a shared block; semaphores say when it is filled and emptied."""
    block = shared_memory.SharedMemory(name=name)
    try:
        emptied.release()                 # ready
        for _ in range(count):
            filled.acquire()
            bytes(block.buf[:size])       # take a copy, as a receiver of any other route has one
            emptied.release()
    finally:
        block.close()


# --- throughput: the sending ends (parent side) -----------------------------------------------

ROUTES = ("Pipe", "Queue", "shared_memory", "Manager")


def seconds_to_send(route: str, payload: bytes, count: int) -> float:
    """(Parent side) seconds to hand ``count`` copies of ``payload`` to a child through ``route``.

    The child is started and has said "ready" before the clock starts, so process start-up is
    not counted; the clock stops when the child acknowledges the last message.
    """

    ctx = multiprocessing.get_context()
    if route == "Pipe":
        here, there = ctx.Pipe()
        child = ctx.Process(target=receive_from_pipe, args=(there, count))
        child.start()
        here.recv_bytes()
        start = time.perf_counter()
        for _ in range(count):
            here.send_bytes(payload)
        here.recv_bytes()
    elif route in ("Queue", "Manager"):
        manager = ctx.Manager() if route == "Manager" else None
        q, replies = (manager.Queue(), manager.Queue()) if manager else (ctx.Queue(), ctx.Queue())
        child = ctx.Process(target=receive_from_queue, args=(q, replies, count))
        child.start()
        replies.get()
        start = time.perf_counter()
        for _ in range(count):
            q.put(payload)
        replies.get()
    elif route == "shared_memory":
        block = shared_memory.SharedMemory(create=True, size=len(payload))
        filled, emptied = ctx.Semaphore(0), ctx.Semaphore(0)
        child = ctx.Process(target=receive_from_shared_memory,
                            args=(block.name, len(payload), filled, emptied, count))
        child.start()
        emptied.acquire()
        start = time.perf_counter()
        for _ in range(count):
            block.buf[:len(payload)] = payload
            filled.release()
            emptied.acquire()
    else:
        raise ValueError(f"unknown route {route!r}; choose one of {ROUTES}")
    elapsed = time.perf_counter() - start
    child.join()
    if route == "Manager":
        manager.shutdown()
    if route == "shared_memory":
        block.close()
        block.unlink()
    return elapsed


def attach_and_exit(name: str) -> None:
    """An unrelated program attaches to a shared memory block by name, reads it, and exits."""
    block = shared_memory.SharedMemory(name=name)
    block.close()


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "write-fd":
    write_to_fd(int(sys.argv[2]), sys.argv[3])
if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "attach":
    attach_and_exit(sys.argv[2])
