# expect: square_worker=fail
# why: run() returns the tuple instead of putting it on out_queue: a child's return value goes nowhere
# mistake: square_worker/no-result
# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.numbers = numbers
        self.out_queue = out_queue

    def run(self):
        return os.getpid(), [n * n for n in self.numbers]
