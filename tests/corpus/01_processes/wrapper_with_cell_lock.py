# why: correct in another style: each child runs a cell-defined wrapper that takes a cell-level multiprocessing.Lock (shared by all children) before calling the target
# %% run_all
import multiprocessing

LOG_LOCK = multiprocessing.Lock()


def _logged(target, args):
    with LOG_LOCK:                       # one child at a time may write its start line
        pass
    target(*args)


def run_all(target, arg_tuples):
    procs = [multiprocessing.Process(target=_logged, args=(target, tuple(args))) for args in arg_tuples]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return [p.exitcode for p in procs]
