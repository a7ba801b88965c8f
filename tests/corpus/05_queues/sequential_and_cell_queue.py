# why: correct but unusual: drain loops over iter(lambda: q.get(timeout=timeout), sentinel) until queue.Empty; offer uses put(item, True, 0), a zero timeout that never waits; collect runs the processes one after another (start, get, join) on a cell-level RESULTS = multiprocessing.Queue()
# %% drain
import queue


def drain(q, timeout):
    items = []
    try:
        for item in iter(lambda: q.get(timeout=timeout), object()):
            items.append(item)
    except queue.Empty:
        pass
    return items

# %% offer
import queue


def offer(q, item):
    try:
        q.put(item, True, 0)
    except queue.Full:
        return False
    return True

# %% collect
import multiprocessing

RESULTS = multiprocessing.Queue()


def collect(target, n):
    results = []
    for i in range(n):
        p = multiprocessing.Process(target=target, args=(RESULTS, i))
        p.start()
        results.append(RESULTS.get())      # before join: the child exits only once its result is read
        p.join()
    return results
