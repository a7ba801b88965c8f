# expect: joinable_pipeline=fail
# why: after q.join() and the results, joins consumers that loop for ever (never stopped): run_joinable never returns
# mistake: joinable/joins-running-consumers
# %% joinable_pipeline
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        results.put(transform(item))
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
    out = [results.get() for _ in items]
    for c in consumers:
        c.join()                   # a daemon that never ends: waits for ever
    return out
