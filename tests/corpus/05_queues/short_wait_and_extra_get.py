# expect: drain=zero collect=zero
# why: drain waits only timeout / 10 for each item, so an item that comes within timeout is missed; collect waits for one result more than the n processes put, forever
# mistake: drain/misses-late-items collect/hangs
# %% drain
import queue


def drain(q, timeout):
    items = []
    while True:
        try:
            items.append(q.get(timeout=timeout / 10))
        except queue.Empty:
            return items

# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
    for p in procs:
        p.start()
    results = [q.get() for _ in range(n + 1)]
    for p in procs:
        p.join()
    return results[:n]
