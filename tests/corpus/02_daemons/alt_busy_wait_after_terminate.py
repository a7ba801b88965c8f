# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in other styles: start_background sets daemon on the object before start(); run_with_deadline waits for its deadline and then for the dying child in busy loops of is_alive() (no sleep, no join), killing it after a grace period
# %% start_background
import multiprocessing


def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args)
    p.daemon = True
    p.start()
    return p

# %% run_with_deadline
import multiprocessing
import time


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    deadline = time.monotonic() + timeout
    while p.is_alive() and time.monotonic() < deadline:
        pass
    if p.is_alive():
        p.terminate()
        grace = time.monotonic() + 3
        while p.is_alive() and time.monotonic() < grace:
            pass
        if p.is_alive():
            p.kill()
            while p.is_alive():
                pass
    return p.exitcode
