# expect: joinable_pipeline=fail
# why: task_done() right after get(), before the work; the caller drains results with empty() after q.join(): the last result is not there yet
# mistake: joinable/returned-early
# %% joinable_pipeline
import multiprocessing


def joinable_consumer(q, results, transform):
    while True:
        item = q.get()
        q.task_done()              # too early: the item is not done yet
        results.put(transform(item))


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
    out = []
    while not results.empty():
        out.append(results.get())
    for c in consumers:
        c.terminate()
        c.join()
    return out
