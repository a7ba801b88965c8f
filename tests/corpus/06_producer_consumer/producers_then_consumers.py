# expect: pipeline=fail
# why: runs the producers to the end before starting any consumer: with a bounded queue they block for ever
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
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, b)) for b in batches]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(sum(len(b) for b in batches))]
    for c in consumers:
        c.join()
    return out
