# expect: drain=fail offer=fail collect=zero
# why: drain: get_nowait until Empty ignores the timeout: a later item is missed; offer: put with a timeout waits a whole second on a full queue before giving up; collect: takes the results but never joins: the children are still running when collect returns
# mistake: drain/misses-late-items offer/waits collect/left-running
# %% drain
import queue


def drain(q, timeout):
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items

# %% offer
import queue


def offer(q, item):
    try:
        q.put(item, timeout=1)
        return True
    except queue.Full:
        return False

# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    for i in range(n):
        multiprocessing.Process(target=target, args=(q, i)).start()
    return [q.get() for _ in range(n)]
