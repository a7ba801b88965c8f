# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in another style: get_context() processes kept in a dict, Process.__init__(self) called explicitly
# %% run_all
import multiprocessing


def run_all(target, arg_tuples):
    ctx = multiprocessing.get_context()
    running = {}
    for index, args in enumerate(arg_tuples):
        running[index] = ctx.Process(target=target, args=tuple(args), name=f"job-{index}")
        running[index].start()
    codes = {}
    for index, p in running.items():
        p.join()
        codes[index] = p.exitcode
    return [codes[i] for i in range(len(arg_tuples))]

# %% square_worker
import multiprocessing
import os


class SquareWorker(multiprocessing.Process):
    def __init__(self, numbers, out_queue):
        multiprocessing.Process.__init__(self)
        self.numbers = numbers
        self.out_queue = out_queue

    def run(self):
        result = []
        for n in self.numbers:
            result.append(n * n)
        self.out_queue.put((os.getpid(), result))
