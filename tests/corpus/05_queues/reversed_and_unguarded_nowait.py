# expect: drain=zero offer=zero collect=zero
# why: drain returns the items newest first; offer checks q.full() and then calls put_nowait without catching queue.Full, so a racing offer raises; collect starts daemon processes and never joins them (a notebook kernel never exits, so daemons are not ended for it)
# mistake: drain/wrong-items offer/raised collect/left-running
# %% drain
import queue


def drain(q, timeout):
    items = []
    while True:
        try:
            items.insert(0, q.get(timeout=timeout))
        except queue.Empty:
            return items

# %% offer
def offer(q, item):
    if q.full():
        return False
    q.put_nowait(item)
    return True

# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    for i in range(n):
        multiprocessing.Process(target=target, args=(q, i), daemon=True).start()
    return [q.get() for _ in range(n)]
