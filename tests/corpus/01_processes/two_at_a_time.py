# expect: run_all=fail
# why: runs the children in batches of two ("not too many at once"), so three children never all run at the same time
# mistake: run_all/not-concurrent
# %% run_all
import multiprocessing

BATCH = 2


def run_all(target, arg_tuples):
    procs = [multiprocessing.Process(target=target, args=args) for args in arg_tuples]
    for first in range(0, len(procs), BATCH):
        batch = procs[first:first + BATCH]
        for p in batch:
            p.start()
        for p in batch:
            p.join()
    return [p.exitcode for p in procs]
