# expect: drain=fail
# why: get_nowait until Empty ignores the timeout: a later item is missed
# mistake: drain/misses-late-items
# %% drain
import queue


def drain(q, timeout):
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items
