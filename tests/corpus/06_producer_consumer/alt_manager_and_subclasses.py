# expect: pipeline=pass joinable_pipeline=pass
# why: another route: Manager queues (proxies), Process subclasses, iter(q.get, None), sentinels to stop the daemons
# %% pipeline
from multiprocessing import Manager, Process


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    for item in iter(q.get, None):
        results.put(transform(item))


class Worker(Process):
    def __init__(self, func, *args):
        super().__init__()
        self.func, self.args = func, args

    def run(self):
        self.func(*self.args)


def run_pipeline(batches, n_consumers, transform, maxsize):
    total = sum(len(b) for b in batches)
    with Manager() as manager:
        q, results = manager.Queue(maxsize), manager.Queue()
        consumers = [Worker(consumer, q, results, transform) for _ in range(n_consumers)]
        producers = [Worker(producer, q, list(b)) for b in batches]
        for w in producers + consumers:
            w.start()
        for w in producers:
            w.join()
        for _ in consumers:
            q.put(None)
        out = [results.get() for _ in range(total)]
        for w in consumers:
            w.join()
    return out

# %% joinable_pipeline
import multiprocessing as mp

STOP = None


def work(q, results, transform):
    while True:
        item = q.get()
        if item is STOP:
            q.task_done()
            return
        results.put(transform(item))
        q.task_done()


def run_joinable(items, n_consumers, transform):
    items = list(items)
    q, results = mp.JoinableQueue(), mp.SimpleQueue()
    workers = []
    for _ in range(n_consumers):
        w = mp.Process(target=work, args=(q, results, transform))
        w.daemon = True
        w.start()
        workers.append(w)
    for item in items:
        q.put(item)
    q.join()
    out = [results.get() for _ in items]
    for _ in workers:              # stop them with sentinels rather than terminate()
        q.put(STOP)
    q.join()
    for w in workers:
        w.join()
    return out
