# expect: pipeline=fail joinable_pipeline=fail
# why: two things done too early: run_pipeline puts the sentinels right after starting the producers instead of after joining them; the joinable consumers call task_done() before the work and the caller drains results with empty() after q.join()
# mistake: pipeline/sentinel-too-early joinable/returned-early
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
    for _ in consumers:
        q.put(None)
    for p in producers:
        p.join()
    for c in consumers:
        c.join()
    out = []
    while not results.empty():
        out.append(results.get())
    return out

# %% joinable_pipeline
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        q.task_done()              # too early: the item is not done yet
        results.put(transform(item))


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
    while not results.empty():
        out.append(results.get())
    for c in consumers:
        c.terminate()
        c.join()
    return out
