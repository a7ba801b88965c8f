# expect: collect=zero
# why: takes the results but never joins: the children are still running when collect returns
# mistake: collect/left-running
# %% collect
import multiprocessing


def collect(target, n):
    q = multiprocessing.Queue()
    for i in range(n):
        multiprocessing.Process(target=target, args=(q, i)).start()
    return [q.get() for _ in range(n)]
