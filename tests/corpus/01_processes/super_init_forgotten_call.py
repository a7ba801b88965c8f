# expect: square_worker=fail
# why: writes `super().__init__` without calling it: the Process is never set up, start() raises AttributeError
# mistake: square_worker/no-super-init
# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__          # noqa: B018 (the mistake: the call is missing)
        self.numbers = numbers
        self.out_queue = out_queue

    def run(self):
        self.out_queue.put((os.getpid(), [n * n for n in self.numbers]))
