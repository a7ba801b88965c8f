# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in other styles: run_all with a Process subclass defined in the cell, started in reverse order and waited for by polling is_alive(); SquareWorker hands a cell-defined function to Process(target=...) and keeps the default run()
# %% run_all
import multiprocessing
import time


class Job(multiprocessing.Process):
    def __init__(self, work, args):
        super().__init__()
        self.work, self.work_args = work, tuple(args)

    def run(self):
        self.work(*self.work_args)


def run_all(target, arg_tuples):
    jobs = [Job(target, args) for args in arg_tuples]
    for job in reversed(jobs):
        job.start()
    while any(job.is_alive() for job in jobs):
        time.sleep(0.01)
    return [job.exitcode for job in jobs]

# %% square_worker
import multiprocessing
import os


def _square_into(numbers, out_queue):
    out_queue.put((os.getpid(), [n * n for n in numbers]))


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__(target=_square_into, args=(list(numbers), out_queue))
