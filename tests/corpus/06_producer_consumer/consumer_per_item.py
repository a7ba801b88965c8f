# expect: joinable_pipeline=fail
# why: starts no more consumers than there are items, ignoring n_consumers
# mistake: joinable/consumer-count
# %% joinable_pipeline
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    items = list(items)
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(min(n_consumers, len(items)))]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()
    out = [results.get() for _ in items]
    for c in consumers:
        c.terminate()
        c.join()
    return out
