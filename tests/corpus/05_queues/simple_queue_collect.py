# why: collect with a SimpleQueue and a loop that takes results as they come, joining each process after all results are in; drain with get(True, timeout)
# %% drain
from queue import Empty


def drain(q, timeout):
    out = []
    try:
        while True:
            out.append(q.get(True, timeout))
    except Empty:
        pass
    return out

# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.SimpleQueue()
    procs = []
    for i in range(n):
        p = multiprocessing.Process(target=target, args=(q, i))
        p.start()
        procs.append(p)
    results = []
    while len(results) < n:
        results.append(q.get())
    for p in procs:
        p.join()
    return results
