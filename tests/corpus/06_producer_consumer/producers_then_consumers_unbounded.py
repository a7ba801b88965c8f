# expect: pipeline=fail
# why: unbounded queue, producers run to the end before any consumer starts: correct results, no concurrency
# mistake: pipeline/no-overlap
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
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    for _ in range(n_consumers):
        q.put(None)
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    out = [results.get() for _ in range(sum(len(b) for b in batches))]
    for c in consumers:
        c.join()
    return out
