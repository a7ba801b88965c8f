# why: correct in another style: __init__ hands a cell-defined function to Process(target=...), and the default run() calls it in the child
# %% square_worker
import multiprocessing
import os


def _square_into(numbers, out_queue):
    out_queue.put((os.getpid(), [n * n for n in numbers]))


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__(target=_square_into, args=(list(numbers), out_queue))
