# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in other styles: cell-level multiprocessing.Lock objects used by the answers: each run_all child runs a cell-defined wrapper that takes the shared lock before the target; SquareWorker puts under a lock, squares with map() and a lambda, keyword arguments to super().__init__
# %% run_all
import multiprocessing

LOG_LOCK = multiprocessing.Lock()


def _logged(target, args):
    with LOG_LOCK:                       # one child at a time may write its start line
        pass
    target(*args)


def run_all(target, arg_tuples):
    procs = [multiprocessing.Process(target=_logged, args=(target, tuple(args))) for args in arg_tuples]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    return [p.exitcode for p in procs]

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
