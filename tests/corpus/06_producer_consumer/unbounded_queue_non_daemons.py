# expect: pipeline=fail joinable_pipeline=fail
# why: run_pipeline ignores maxsize (Queue() is unbounded): fast producers pile every item up instead of blocking; run_joinable's consumers are not daemons and loop for ever: still blocked in q.get() after it returns
# mistake: pipeline/unbounded-queue joinable/left-running
# %% pipeline
import multiprocessing


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:
            break
        results.put(transform(item))


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue()
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, b)) for b in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in producers + consumers:
        p.start()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(sum(len(b) for b in batches))]
    for c in consumers:
        c.join()
    return out

# %% joinable_pipeline
import multiprocessing


def consume(q, results, transform):
    while True:
        item = q.get()
        results.put(transform(item))
        q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=consume, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()
    return [results.get() for _ in range(len(items))]
