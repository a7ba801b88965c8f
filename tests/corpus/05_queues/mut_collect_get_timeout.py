# expect: collect=fail
# why: (mutant found by scripts/mutation.py) takes each result with q.get(timeout=0.1): a target slower than that makes collect raise queue.Empty instead of waiting for its result
# mistake: collect/gives-up-waiting
# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
    for p in procs:
        p.start()
    results = [q.get(timeout=0.1) for _ in range(n)]
    for p in procs:
        p.join()
    return results
