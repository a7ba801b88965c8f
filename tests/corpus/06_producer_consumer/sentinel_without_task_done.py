# expect: joinable_pipeline=fail
# why: stops the daemons with sentinels and waits with a second q.join(), but never calls task_done() for a sentinel
# mistake: joinable/no-task-done
# %% joinable_pipeline
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        if item is None:
            return                 # forgets q.task_done() for the sentinel
        results.put(transform(item))
        q.task_done()


def run_joinable(items, n_consumers, transform):
    q = multiprocessing.JoinableQueue()
    results = multiprocessing.Queue()
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    items = list(items)
    for item in items:
        q.put(item)
    q.join()
    out = [results.get() for _ in items]
    for _ in consumers:
        q.put(None)
    q.join()                       # waits for ever: nobody calls task_done() for the Nones
    for c in consumers:
        c.join()
    return out
