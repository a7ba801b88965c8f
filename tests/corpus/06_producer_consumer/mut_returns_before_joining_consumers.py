# expect: pipeline=fail
# why: (mutant found by scripts/mutation.py, pipeline#30) run_pipeline returns as soon as it has every result,
#      without joining its consumers; they have their sentinels and usually end a moment later, so a timing
#      test sees them gone, but a consumer slow to end is still running when the caller has moved on
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
    producers = [multiprocessing.Process(target=producer, args=(q, batch)) for batch in batches]
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    out = [results.get() for _ in range(sum(len(batch) for batch in batches))]
    return out                     # the consumers are never joined
