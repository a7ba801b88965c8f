# expect: pipeline=fail
# why: each producer ends its batch with a None: the first producer to finish stops a consumer while others still produce
# mistake: pipeline/sentinel-too-early
# %% pipeline
import multiprocessing


def producer(q, items):
    for item in items:
        q.put(item)
    q.put(None)


def consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:
            break
        results.put(transform(item))


def run_pipeline(batches, n_consumers, transform, maxsize):
    q = multiprocessing.Queue(maxsize)
    results = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=producer, args=(q, b)) for b in batches]
    procs += [multiprocessing.Process(target=consumer, args=(q, results, transform)) for _ in range(n_consumers)]
    for p in procs:
        p.start()
    out = [results.get() for _ in range(sum(len(b) for b in batches))]
    for p in procs:
        p.join()
    return out
