# why: other correct styles: a polling drain with its own deadline per item; put_nowait; a Manager queue filled by a Pool of n workers
# %% drain
import queue
import time


def drain(q, timeout):
    items = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            items.append(q.get_nowait())
            deadline = time.monotonic() + timeout
        except queue.Empty:
            time.sleep(0.005)
    return items

# %% offer
from queue import Full


def offer(q, item):
    try:
        q.put_nowait(item)
        return True
    except Full:
        return False

# %% collect
import multiprocessing


def collect(target, n):
    with multiprocessing.Manager() as manager:
        q = manager.Queue()
        with multiprocessing.Pool(n) as pool:
            pending = [pool.apply_async(target, (q, i)) for i in range(n)]
            for job in pending:
                job.get()
            results = [q.get() for _ in range(n)]
            pool.close()
            pool.join()
    return results
