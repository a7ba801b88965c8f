# expect: pipeline=fail joinable_pipeline=fail
# why: two answers that leave consumers running: run_pipeline collects the results but never stops its daemon consumers; run_joinable's daemon consumers are never stopped either (a notebook kernel never exits, so they keep running)
# mistake: pipeline/left-running joinable/left-running
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
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    out = [results.get() for _ in range(sum(len(b) for b in batches))]
    return out

# %% joinable_pipeline
import multiprocessing


def consume(q, results, transform):
    while True:
        item = q.get()
        results.put(transform(item))
        q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    for _ in range(n_consumers):
        multiprocessing.Process(target=consume, args=(q, results, transform), daemon=True).start()
    for item in items:
        q.put(item)
    q.join()
    return [results.get() for _ in items]
