# expect: joinable_pipeline=pass
# why: correct, unusual style: lambda targets capturing a JoinableQueue and an Event; consumers poll get(timeout) and stop when the Event is set
# %% joinable_pipeline
import multiprocessing
import queue


def work(q, results, transform, stop):
    while not stop.is_set():
        try:
            item = q.get(timeout=0.05)
        except queue.Empty:
            continue
        try:
            results.put(transform(item))
        finally:
            q.task_done()


def run_joinable(items, n_consumers, transform):
    q, results, stop = multiprocessing.JoinableQueue(), multiprocessing.Queue(), multiprocessing.Event()
    consumers = [multiprocessing.Process(target=lambda: work(q, results, transform, stop), daemon=True)
                 for _ in range(n_consumers)]
    for c in consumers:
        c.start()
    count = 0
    for item in items:
        q.put(item)
        count += 1
    q.join()
    out = [results.get() for _ in range(count)]
    stop.set()
    for c in consumers:
        c.join()
    return out
