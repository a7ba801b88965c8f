# expect: pipeline=pass joinable_pipeline=pass
# why: correct but unusual: run_pipeline waits for its consumers by polling is_alive() with short sleeps before
#      joining them, and run_joinable reads each result with get_nowait() in a loop that sleeps and tries again
#      on queue.Empty; slower than blocking, but nothing is lost, nothing is left running
# %% pipeline
import multiprocessing
import time


def producer(q, items):
    for item in items:
        q.put(item)


def consumer(q, results, transform):
    for item in iter(q.get, None):
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
        p.join()
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(sum(map(len, batches)))]
    while any(c.is_alive() for c in consumers):
        time.sleep(0.01)
    for c in consumers:
        c.join()
    return out

# %% joinable_pipeline
import multiprocessing
import queue
import time


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        results.put(transform(item))
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
    q.join()
    out = []
    while len(out) < len(items):
        try:
            out.append(results.get_nowait())
        except queue.Empty:
            time.sleep(0.01)
    for c in consumers:
        c.terminate()
        c.join()
    return out
