# expect: pipeline=fail
# why: the consumer loops `while item := q.get()`: it stops at the item 0, which is falsy but not the sentinel
# mistake: pipeline/stops-at-falsy-item
# %% pipeline
import multiprocessing


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    while item := q.get():
        results.put(transform(item))


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, b)) for b in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform)) for _ in range(n_consumers)]
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
