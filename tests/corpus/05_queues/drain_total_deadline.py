# expect: drain=fail
# why: one deadline for the whole drain: items that keep coming within `timeout` of each other are cut off
# mistake: drain/misses-late-items
# %% drain
import queue
import time


def drain(q, timeout):
    items = []
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return items
        try:
            items.append(q.get(timeout=left))
        except queue.Empty:
            return items
