# why: correct in another style: a cell-level multiprocessing.Lock guards the put, the squares come from map() with a lambda, keyword arguments to super().__init__
# %% square_worker
import multiprocessing
import os

PUT_LOCK = multiprocessing.Lock()


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__(name="squares", daemon=False)
        self.numbers, self.out_queue = tuple(numbers), out_queue

    def run(self):
        squares = list(map(lambda n: n * n, self.numbers))
        with PUT_LOCK:
            self.out_queue.put((os.getpid(), squares))
