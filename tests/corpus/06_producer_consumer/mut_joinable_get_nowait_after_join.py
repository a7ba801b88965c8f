# expect: joinable_pipeline=fail
# why: (mutant found by scripts/mutation.py, joinable#52) after q.join() the caller reads the results with
#      get_nowait(); q.join() returns once the last task_done() is called, but the consumer's results.put()
#      only handed the result to its queue's background thread, which may not have sent it yet: Empty
# mistake: joinable/gives-up-waiting
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
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()
    out = [results.get_nowait() for _ in items]
    for c in consumers:
        c.terminate()
    for c in consumers:
        c.join()
    return out
