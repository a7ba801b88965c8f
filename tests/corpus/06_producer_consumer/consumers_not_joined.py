# expect: pipeline=fail
# why: never stops the consumers: returns with them still blocked in q.get()
# mistake: pipeline/left-running
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
