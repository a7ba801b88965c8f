# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# The model answers of 01_processes (every exercise must earn full marks).
# %% run_all
import multiprocessing


def run_all(target, arg_tuples):
    processes = [multiprocessing.Process(target=target, args=tuple(args)) for args in arg_tuples]
    for p in processes:          # start them all first, so they run at the same time
        p.start()
    for p in processes:          # then wait for every one of them
        p.join()
    return [p.exitcode for p in processes]

# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__()
        self.numbers = list(numbers)
        self.out_queue = out_queue

    def run(self):
        self.out_queue.put((os.getpid(), [n * n for n in self.numbers]))
