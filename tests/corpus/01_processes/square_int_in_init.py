# expect: square_worker=fail
# why: converts with int() and squares in __init__ (in the parent), stores the squares; run() only sends them
# mistake: square_worker/work-in-init
# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.results = [int(n) ** 2 for n in numbers]
        self.out_queue = out_queue

    def run(self):
        self.out_queue.put((os.getpid(), self.results))
