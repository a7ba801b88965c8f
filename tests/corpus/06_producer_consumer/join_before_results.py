# expect: pipeline=fail
# why: joins the consumers before reading the results: a consumer holding a large result cannot end until it is read
# mistake: pipeline/join-before-results
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
    consumers = [multiprocessing.Process(target=consumer, args=(q, results, transform)) for _ in range(n_consumers)]
    for p in consumers + producers:
        p.start()
    for p in producers:
        p.join()
    for _ in consumers:
        q.put(None)
    for c in consumers:
        c.join()                   # waits for ever once a result is bigger than the pipe
    return [results.get() for _ in range(sum(len(b) for b in batches))]
