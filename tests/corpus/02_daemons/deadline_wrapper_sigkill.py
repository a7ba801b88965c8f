# why: correct in another style: the child runs a cell-defined wrapper; after the deadline, terminate(), a short join, then SIGKILL with os.kill
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
