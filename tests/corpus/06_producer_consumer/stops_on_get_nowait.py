# expect: pipeline=fail
# why: the consumer takes items with get_nowait() and stops at queue.Empty, i.e. whenever it outruns the producers
# mistake: pipeline/stops-when-empty
# %% pipeline
import multiprocessing
import queue


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    while True:
        try:
            item = q.get_nowait()
        except queue.Empty:
            return
        if item is None:
            return
        results.put(transform(item))


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, b)) for b in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    total = sum(len(b) for b in batches)
    out = [results.get() for _ in range(total)]
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    for c in consumers:
        c.join()
    return out
