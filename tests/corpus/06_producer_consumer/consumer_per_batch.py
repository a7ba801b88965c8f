# expect: pipeline=fail
# why: starts at most one consumer per batch ("more consumers than batches would idle"), ignoring n_consumers
# mistake: pipeline/consumer-count
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
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, b)) for b in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(min(n_consumers, len(batches)))]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(sum(len(b) for b in batches))]
    for c in consumers:
        c.join()
    return out
