# why: correct but unusual: drain is a lambda over a generator; offer returns from inside contextlib.suppress(queue.Full); collect's processes run lambdas that capture the queue and target (they travel by value under spawn)
# %% drain
import queue


def _items(q, timeout):
    while True:
        try:
            yield q.get(timeout=timeout)
        except queue.Empty:
            return


drain = lambda q, timeout: list(_items(q, timeout))  # noqa: E731

# %% offer
import contextlib
import queue


def offer(q, item):
    with contextlib.suppress(queue.Full):
        q.put_nowait(item)
        return True
    return False

# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=lambda i=i: target(q, i)) for i in range(n)]
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    return results
