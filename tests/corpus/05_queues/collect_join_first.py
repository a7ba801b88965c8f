# expect: collect=fail
# why: joins the children before taking their (megabyte) results: each child waits for its result to be read
# mistake: collect/join-before-get
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
