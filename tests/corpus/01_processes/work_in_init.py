# expect: square_worker=fail
# why: the squares are computed and put on the queue in __init__, in the parent, before start(); run() does nothing
# mistake: square_worker/work-in-init
# %% square_worker
import os
from multiprocessing import Process


class SquareWorker(Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        out_queue.put((os.getpid(), [n * n for n in numbers]))

    def run(self):
        pass
