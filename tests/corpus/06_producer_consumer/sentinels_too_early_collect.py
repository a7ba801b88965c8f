# expect: pipeline=fail
# why: sentinels before the producers have finished, results collected with a timeout (returns short instead of hanging)
# mistake: pipeline/sentinel-too-early
# %% pipeline
import multiprocessing
import queue


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
    producers = [multiprocessing.Process(target=producer, args=(q, b), daemon=True) for b in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    for _ in consumers:
        q.put(None)
    out = []
    while True:
        try:
            out.append(results.get(timeout=0.5))
        except queue.Empty:
            break
    for c in consumers:
        c.join()
    for p in producers:
        p.terminate()
        p.join()
    return out
