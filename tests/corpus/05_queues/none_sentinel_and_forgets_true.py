# expect: drain=partial offer=zero collect=zero
# why: drain treats a None item as "the end" (an item may be None); offer forgets to return True when the item went in (it returns None); collect calls target itself, in the calling process, instead of starting processes
# mistake: drain/stops-on-falsy offer/wrong-answer collect/target-in-caller
# %% drain
import queue


def drain(q, timeout):
    items = []
    while True:
        try:
            item = q.get(timeout=timeout)
        except queue.Empty:
            return items
        if item is None:
            return items
        items.append(item)

# %% offer
import queue


def offer(q, item):
    try:
        q.put_nowait(item)
    except queue.Full:
        return False

# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    for i in range(n):
        target(q, i)
    return [q.get() for _ in range(n)]
