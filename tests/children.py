"""Functions the tests run in child processes.

They live in a module that imports almost nothing, so a spawned child starts quickly
(a test module would make every child import pytest and nbformat first).
"""
from __future__ import annotations

import multiprocessing
import os


def take_lock_twice(lock):
    lock.acquire()
    lock.acquire()


def withdraw_with_deadlocked_child():
    lock = multiprocessing.Lock()
    child = multiprocessing.Process(target=take_lock_twice, args=(lock,))
    child.start()
    child.join()


def start_grandchildren_that_spin(n):
    children = [multiprocessing.Process(target=spin) for _ in range(n)]
    for c in children:
        c.start()
    for c in children:
        c.join()


def spin():
    while True:
        pass


def exit_abruptly():
    os._exit(7)


def withdraw_unlocked(lock, account, amount):
    account.set(account.get() - amount)


def withdraw_locked(lock, account, amount):
    with lock:
        account.set(account.get() - amount)


def add_unlocked(total, numbers):
    for n in numbers:
        total.value += n


def add_locked(total, numbers):
    for n in numbers:
        with total.get_lock():
            total.value += n


def take_twice(lock, account, amount):
    with lock:
        with lock:
            pass


def record_work(timeline, n):
    timeline.state("running")
    with timeline.span("holding", "lock"):
        timeline.mark("get", str(n))
    timeline.state("exited")


def matplotlib_loaded(timeline) -> bool:
    import sys

    timeline.mark("here")
    return "matplotlib" in sys.modules
