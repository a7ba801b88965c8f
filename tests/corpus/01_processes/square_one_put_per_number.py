# expect: square_worker=fail
# why: puts one tuple per number instead of one tuple with the whole list
# mistake: square_worker/many-results
# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.numbers = numbers
        self.out_queue = out_queue

    def run(self):
        for n in self.numbers:
            self.out_queue.put((os.getpid(), [n * n]))
