# expect: square_worker=fail
# why: the squares are computed in __init__ (in the parent); run() only sends them, with the child's pid
# mistake: square_worker/work-in-init
# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.squares = [n * n for n in numbers]
        self.out_queue = out_queue

    def run(self):
        self.out_queue.put((os.getpid(), self.squares))
