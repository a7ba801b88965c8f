# expect: pipeline=fail
# why: waits a second, then takes the results with get_nowait(): a transform slower than that pause leaves
#      its result missing and get_nowait() raises queue.Empty (the pause only hides it on a quick run)
# mistake: pipeline/gives-up-waiting
# %% pipeline
import multiprocessing
import time


def producer(q, items):
    for item in items:
        q.put(item)                # blocks while the buffer is full: back-pressure


def consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:           # the sentinel: no more items for this consumer
            break
        results.put(transform(item))


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    producers = [multiprocessing.Process(target=producer, args=(q, batch)) for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join()                   # every item is on the queue now
    for _ in consumers:
        q.put(None)                # one sentinel per consumer
    time.sleep(1.0)                # "long enough" for the consumers to finish
    out = [results.get_nowait() for _ in range(sum(len(batch) for batch in batches))]
    for c in consumers:
        c.join()
    return out
