# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in another style: daemon flag set as an attribute before start(), a polling deadline, wait() on sentinels
# %% start_background
import multiprocessing


def start_background(target, args=()):
    job = multiprocessing.get_context().Process(target=target, args=tuple(args), name="background")
    job.daemon = True                 # before start(): allowed
    job.start()
    return job

# %% run_with_deadline
import time
from multiprocessing import Process
from multiprocessing.connection import wait


def run_with_deadline(target, args, timeout):
    child = Process(target=target, args=args)
    child.start()
    end = time.monotonic() + timeout
    while child.is_alive() and time.monotonic() < end:
        wait([child.sentinel], timeout=max(0.0, end - time.monotonic()))
    for stop in (child.terminate, child.kill):
        if child.exitcode is not None:
            break
        if child.is_alive():
            stop()
        wait([child.sentinel], timeout=0.5)
    child.join()
    return child.exitcode
