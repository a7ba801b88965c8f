# expect: offer=fail
# why: put with a timeout waits a whole second on a full queue before giving up
# mistake: offer/waits
# %% offer
import queue


def offer(q, item):
    try:
        q.put(item, timeout=1)
        return True
    except queue.Full:
        return False
