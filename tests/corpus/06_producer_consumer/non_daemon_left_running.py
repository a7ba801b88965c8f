# expect: joinable_pipeline=fail
# why: non-daemon consumers that loop forever: still blocked in q.get() after run_joinable returns
# mistake: joinable/left-running
# %% joinable_pipeline
import multiprocessing


def consume(q, results, transform):
    while True:
        item = q.get()
        results.put(transform(item))
        q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=consume, args=(q, results, transform))
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    for item in items:
        q.put(item)
    q.join()
    return [results.get() for _ in range(len(items))]
