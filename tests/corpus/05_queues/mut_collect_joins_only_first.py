# expect: collect=fail
# why: (mutant found by scripts/mutation.py) joins only the first process: the others may still run when collect returns
# mistake: collect/left-running
# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
    for p in procs:
        p.start()
    results = [q.get() for _ in range(n)]
    p = next(iter(procs))
    p.join()
    return results
