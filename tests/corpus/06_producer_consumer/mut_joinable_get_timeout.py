# expect: joinable_pipeline=fail
# why: (mutant found by scripts/mutation.py, joinable#60) a consumer quits after 0.1 s without an item; an idle
#      consumer is gone at once, and if the caller puts its items more slowly than that, every consumer quits
#      and q.join() waits for ever
# mistake: joinable/consumer-gives-up
# %% joinable_pipeline
import multiprocessing
import queue


def joinable_consumer(q, results, transform):
    while True:
        try:
            item = q.get(timeout=0.1)
        except queue.Empty:
            return                 # "nothing more to do": but more items may still be on their way
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
    out = [results.get() for _ in items]
    for c in consumers:
        c.terminate()
        c.join()
    return out
