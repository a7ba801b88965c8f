# expect: pipeline=fail joinable_pipeline=fail
# why: the consumer loops while not q.empty() and quits as soon as it outruns the producers; run_joinable stops its daemons with sentinels but never calls task_done() for a sentinel, so its second q.join() waits for ever
# mistake: pipeline/stops-when-empty joinable/no-task-done
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

# %% joinable_pipeline
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:
            return                 # forgets q.task_done() for the sentinel
        results.put(transform(item))
        q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    items = list(items)
    for item in items:
        q.put(item)
    q.join()
    out = [results.get() for _ in items]
    for _ in consumers:
        q.put(None)
    q.join()                       # waits for ever: nobody calls task_done() for the Nones
    for c in consumers:
        c.join()
    return out
