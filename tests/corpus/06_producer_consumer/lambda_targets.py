# expect: pipeline=pass joinable_pipeline=pass
# why: correct, unusual style: lambdas capturing the queues as Process targets and a cell-level multiprocessing.Lock around results; joinable consumers as lambdas capturing a JoinableQueue and an Event, polling get(timeout) until the Event is set
# %% pipeline
import multiprocessing

RESULTS_LOCK = multiprocessing.Lock()       # one put on results at a time (not needed, but allowed)


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    for item in iter(q.get, None):
        value = transform(item)
        with RESULTS_LOCK:
            results.put(value)


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    workers = [multiprocessing.Process(target=lambda: consumer(q, results, transform)) for _ in range(n_consumers)]
    feeders = [multiprocessing.Process(target=lambda b=batch: producer(q, b)) for batch in batches]
    for w in workers + feeders:
        w.start()
    for f in feeders:
        f.join()
    for _ in workers:
        q.put(None)
    out = [results.get() for _ in range(sum(map(len, batches)))]
    for w in workers:
        w.join()
    return out

# %% joinable_pipeline
import multiprocessing
import queue


def work(q, results, transform, stop):
    while not stop.is_set():
        try:
            item = q.get(timeout=0.05)
        except queue.Empty:
            continue
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q, results, stop = multiprocessing.JoinableQueue(), multiprocessing.Queue(), multiprocessing.Event()
    consumers = [multiprocessing.Process(target=lambda: work(q, results, transform, stop), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    count = 0
    for item in items:
        q.put(item)
        count += 1
    q.join()
    out = [results.get() for _ in range(count)]
    stop.set()
    for c in consumers:
        c.join()
    return out
