# expect: pipeline=fail
# why: the consumer waits at most 0.2 s for each item and returns on queue.Empty: producers that pause longer lose it
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
            item = q.get(timeout=0.2)
        except queue.Empty:
            return                 # "the producers must be done by now"
        if item is None:
            return
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
    out = []
    while True:
        try:
            out.append(results.get(timeout=1))
        except queue.Empty:
            break
    for c in consumers:
        c.join()
    return out
