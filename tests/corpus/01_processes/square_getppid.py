# expect: square_worker=fail
# why: os.getppid() instead of os.getpid(): the result carries the parent's pid
# mistake: square_worker/wrong-pid
# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.numbers = numbers
        self.out_queue = out_queue

    def run(self):
        self.out_queue.put((os.getppid(), [n * n for n in self.numbers]))
