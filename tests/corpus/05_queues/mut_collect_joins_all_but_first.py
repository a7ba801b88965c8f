# expect: collect=fail
# why: (mutant found by scripts/mutation.py) joins procs[1:]: the first process is never waited for and may still run when collect returns
# mistake: collect/left-running
# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
    for p in procs:
        p.start()
    results = [q.get() for _ in range(n)]
    for p in procs[1:]:
        p.join()
    return results
