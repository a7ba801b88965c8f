# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in other styles: run_all hands each join() to a thread of its own and waits for the threads (the caller itself never calls join on a process); SquareWorker is built with a target function and args
# %% run_all
import multiprocessing
import threading


def run_all(target, arg_tuples):
    processes = [multiprocessing.Process(target=target, args=tuple(args)) for args in arg_tuples]
    for p in processes:
        p.start()
    joiners = [threading.Thread(target=p.join) for p in processes]
    for t in joiners:
        t.start()
    for t in joiners:
        t.join()
    return [p.exitcode for p in processes]

# %% square_worker
import multiprocessing
import os


def _report_squares(numbers, out_queue):
    out_queue.put((os.getpid(), [n * n for n in numbers]))


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        super().__init__(target=_report_squares, args=(list(numbers), out_queue))
