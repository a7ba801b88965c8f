# expect: joinable_pipeline=fail
# why: (mutant found by scripts/mutation.py, joinable#58) the consumers are not daemons; they are terminated after q.join(), so nothing is left running, but a consumer that loops for ever must be a daemon
# mistake: joinable/not-daemon
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
    consumers = [multiprocessing.Process(target=joinable_consumer, args=(q, results, transform))
                 for _ in range(n_consumers)]
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
