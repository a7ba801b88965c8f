# expect: joinable_pipeline=fail
# why: consumers give up after q.get(timeout=0.2) finds nothing, and the caller prepares for 0.5 s before its first
#      put: every consumer has quit before any item arrives (what a loaded machine does to mut_joinable_get_timeout)
# mistake: joinable/consumer-gives-up
# %% joinable_pipeline
import multiprocessing
import queue
import time


def joinable_consumer(q, results, transform):
    while True:
        try:
            item = q.get(timeout=0.2)
        except queue.Empty:
            return
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
    time.sleep(0.5)                # "let the consumers get ready"
    for item in items:
        q.put(item)
    q.join()
    out = [results.get() for _ in items]
    for c in consumers:
        c.terminate()
        c.join()
    return out
