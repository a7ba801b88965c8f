# expect: joinable_pipeline=fail
# why: daemon consumers, but never stopped: in a notebook kernel (which never exits) they keep running after return
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
    for _ in range(n_consumers):
        multiprocessing.Process(target=consume, args=(q, results, transform), daemon=True).start()
    for item in items:
        q.put(item)
    q.join()
    return [results.get() for _ in items]
