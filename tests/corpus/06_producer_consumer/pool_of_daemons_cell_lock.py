# expect: joinable_pipeline=pass
# why: correct, unusual style: a Process subclass with daemon=True in __init__, a cell-level Lock around results, stop by terminate()
# %% joinable_pipeline
import multiprocessing

RESULTS_LOCK = multiprocessing.Lock()


class Consumer(multiprocessing.Process):
    def __init__(self, q, results, transform):
        super().__init__(daemon=True)
        self.q, self.results, self.transform = q, results, transform

    def run(self):
        while True:
            item = self.q.get()
            try:
                value = self.transform(item)
                with RESULTS_LOCK:
                    self.results.put(value)
            finally:
                self.q.task_done()


def run_joinable(items, n_consumers, transform):
    q, results = multiprocessing.JoinableQueue(), multiprocessing.Queue()
    workers = [Consumer(q, results, transform) for _ in range(n_consumers)]
    for w in workers:
        w.start()
    n = 0
    for item in items:
        q.put(item)
        n += 1
    q.join()
    out = [results.get() for _ in range(n)]
    for w in workers:
        w.terminate()
    for w in workers:
        w.join()
    return out
