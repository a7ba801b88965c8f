# expect: pipeline=fail joinable_pipeline=fail
# why: one None for several consumers: one stops, the others wait for ever and run_pipeline hangs joining them; the joinable consumers never call q.task_done(), so q.join() waits for ever
# mistake: pipeline/one-sentinel joinable/no-task-done
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
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in producers + consumers:
        p.start()
    for p in producers:
        p.join()
    q.put(None)
    out = [results.get() for _ in range(sum(len(b) for b in batches))]
    for c in consumers:
        c.join()
    return out

# %% joinable_pipeline
import multiprocessing


def worker(q, results, transform):
    while True:
        item = q.get()
        results.put(transform(item))


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    for _ in range(n_consumers):
        multiprocessing.Process(target=worker, args=(q, results, transform), daemon=True).start()
    for item in items:
        q.put(item)
    q.join()
    return [results.get() for _ in items]
