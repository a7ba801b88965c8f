# expect: pipeline=fail
# why: puts the sentinels right after starting the producers instead of after joining them
# mistake: pipeline/sentinel-too-early
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
