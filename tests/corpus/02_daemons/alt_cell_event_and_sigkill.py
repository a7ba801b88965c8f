# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in other styles: start_background's child runs a cell-defined wrapper that sets a cell-level multiprocessing.Event once the job has begun, and start_background waits for that (never for the end); run_with_deadline's child runs a cell-defined wrapper, and SIGKILL comes from os.kill
# %% start_background
import multiprocessing

STARTED = multiprocessing.Event()


def _announce(target, args):
    STARTED.set()
    target(*args)


def start_background(target, args=()):
    STARTED.clear()
    p = multiprocessing.Process(target=_announce, args=(target, tuple(args)), daemon=True)
    p.start()
    STARTED.wait(5)
    return p

# %% run_with_deadline
import multiprocessing
import os
import signal


def _child(target, args):
    target(*args)


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=_child, args=(target, tuple(args)))
    p.start()
    p.join(timeout)
    if p.exitcode is None:
        p.terminate()
        p.join(0.5)
    if p.exitcode is None:
        os.kill(p.pid, signal.SIGKILL)
        p.join()
    return p.exitcode
