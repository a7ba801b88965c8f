# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in another style: a Process subclass defined in the cell that makes itself a daemon in __init__ and runs the job in run()
# %% start_background
import multiprocessing


class Background(multiprocessing.Process):
    def __init__(self, job, job_args):
        super().__init__(daemon=True, name="background")
        self.job, self.job_args = job, tuple(job_args)

    def run(self):
        self.job(*self.job_args)


def start_background(target, args=()):
    worker = Background(target, args)
    worker.start()
    return worker
