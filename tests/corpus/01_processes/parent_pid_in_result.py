# expect: square_worker=fail
# why: the pid is taken in __init__, i.e. the parent's pid, so the result does not say which child did the work
# mistake: square_worker/wrong-pid
# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.numbers = numbers
        self.out_queue = out_queue
        self.me = os.getpid()

    def run(self):
        self.out_queue.put((self.me, [n * n for n in self.numbers]))
