# expect: pipeline=fail
# why: the consumer loops while not q.empty(): it quits as soon as it outruns the producers
# mistake: pipeline/stops-when-empty
# %% pipeline
import multiprocessing
import queue


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    while not q.empty():
        item = q.get()
        if item is None:
            break
        results.put(transform(item))


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
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
    out = []
    while True:
        try:
            out.append(results.get(timeout=1))
        except queue.Empty:
            break
    for c in consumers:
        c.join()
    return out
