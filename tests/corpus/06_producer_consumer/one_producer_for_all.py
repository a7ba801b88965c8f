# expect: pipeline=fail
# why: one producer process puts every batch, one after the other, instead of one producer per batch
# mistake: pipeline/producer-count
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


def produce_all(q, batches):
    for batch in batches:
        producer(q, batch)


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    feeder = multiprocessing.Process(target=produce_all, args=(q, batches))
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform)) for _ in range(n_consumers)]
    for p in consumers + [feeder]:
        p.start()
    feeder.join()
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(sum(len(b) for b in batches))]
    for c in consumers:
        c.join()
    return out
