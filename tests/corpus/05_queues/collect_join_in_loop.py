# expect: collect=fail
# why: start, join, then get, one child at a time: the first large result deadlocks
# mistake: collect/join-before-get
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
