# expect: square_worker=fail
# why: __init__ never calls super().__init__(), so start() raises AttributeError
# mistake: square_worker/no-super-init
# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        self.numbers = numbers
        self.out_queue = out_queue

    def run(self):
        self.out_queue.put((os.getpid(), [n * n for n in self.numbers]))
