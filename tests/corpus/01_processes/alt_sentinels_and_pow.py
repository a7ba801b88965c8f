# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in another style: joins as sentinels fire, worker named via super().__init__(name=...), ** squares
# %% run_all
import multiprocessing as mp
from multiprocessing.connection import wait


def run_all(target, arg_tuples):
    procs = []
    for args in arg_tuples:
        p = mp.Process(target=target, args=args)
        procs.append(p)
        p.start()
    pending = {p.sentinel: p for p in procs}
    while pending:                       # reap the children in whatever order they end
        for sentinel in wait(list(pending)):
            pending.pop(sentinel).join()
    return [p.exitcode for p in procs]    # ...but report them in the order of arg_tuples

# %% square_worker
import os
from multiprocessing import Process


class SquareWorker(Process):
    def __init__(self, numbers, out_queue):
        self._numbers = tuple(numbers)
        self._out = out_queue
        super().__init__(name="square-worker")

    def run(self):
        squares = list(map(lambda n: n ** 2, self._numbers))
        self._out.put((os.getpid(), squares))
