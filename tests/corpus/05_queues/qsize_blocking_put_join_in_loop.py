# expect: drain=fail offer=zero collect=fail
# why: drain: stops on qsize() == 0, the same mistake as empty(); offer: q.put(item) blocks forever on a full queue; collect: start, join, then get, one child at a time: the first large result deadlocks
# mistake: drain/while-not-empty offer/blocking-put collect/join-before-get
# %% drain
def drain(q, timeout):
    items = []
    while q.qsize() > 0:
        items.append(q.get())
    return items

# %% offer
def offer(q, item):
    q.put(item)
    return True

# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    results = []
    for i in range(n):
        p = multiprocessing.Process(target=target, args=(q, i))
        p.start()
        p.join()
        results.append(q.get())
    return results
