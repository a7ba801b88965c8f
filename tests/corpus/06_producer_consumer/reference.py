# The model answers of 06_producer_consumer (every exercise must earn full marks).
# %% pipeline
import multiprocessing


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
    out = [results.get() for _ in range(sum(len(batch) for batch in batches))]
    for c in consumers:
        c.join()
    return out

# %% joinable_pipeline
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()                       # every item has been task_done()
    out = [results.get() for _ in items]
    for c in consumers:            # a kernel never exits: stop the idle daemons ourselves
        c.terminate()
    for c in consumers:
        c.join()
    return out
