# expect: drain=fail offer=fail collect=fail
# why: drain: `while not q.empty()` stops as soon as the queue looks empty: a later item is missed; offer: `if q.full()` then a blocking put: another process fills the last place in between and the put blocks; collect: joins the children before taking their (megabyte) results: each child waits for its result to be read
# mistake: drain/while-not-empty offer/check-then-put collect/join-before-get
# %% drain
def drain(q, timeout):
    items = []
    while not q.empty():
        items.append(q.get(timeout=timeout))
    return items

# %% offer
def offer(q, item):
    if q.full():
        return False
    q.put(item)
    return True

# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=target, args=(q, i)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return [q.get() for _ in range(n)]
