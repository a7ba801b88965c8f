# The model answers of 05_queues (every exercise must earn full marks).
# %% drain
import queue


def drain(q, timeout):
    items = []
    while True:
        try:
            items.append(q.get(timeout=timeout))
        except queue.Empty:
            return items

# %% offer
import queue


def offer(q, item):
    try:
        q.put(item, block=False)
    except queue.Full:
        return False
    return True

# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
    for p in procs:
        p.start()
    results = [q.get() for _ in range(n)]
    for p in procs:
        p.join()
    return results
