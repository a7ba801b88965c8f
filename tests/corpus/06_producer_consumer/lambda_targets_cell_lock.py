# expect: pipeline=pass
# why: correct, unusual style: lambdas capturing the queues as Process targets, a cell-level multiprocessing.Lock
# %% pipeline
import multiprocessing

RESULTS_LOCK = multiprocessing.Lock()       # one put on results at a time (not needed, but allowed)


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    for item in iter(q.get, None):
        value = transform(item)
        with RESULTS_LOCK:
            results.put(value)


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=lambda: consumer(q, results, transform)) for _ in range(n_consumers)]
    feeders = [multiprocessing.Process(target=lambda b=batch: producer(q, b)) for batch in batches]
    for w in workers + feeders:
        w.start()
    for f in feeders:
        f.join()
    for _ in workers:
        q.put(None)
    out = [results.get() for _ in range(sum(map(len, batches)))]
    for w in workers:
        w.join()
    return out
