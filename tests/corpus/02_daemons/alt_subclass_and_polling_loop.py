# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in other styles: start_background with a Process subclass defined in the cell that makes itself a daemon; run_with_deadline polls with short joins, then tries terminate() and kill() in turn from a cell-level table of grace periods
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

# %% run_with_deadline
import multiprocessing
import time

GRACE = {"terminate": 0.3, "kill": None}


def run_with_deadline(target, args, timeout):
    child = multiprocessing.get_context().Process(target=target, args=args)
    child.start()
    deadline = time.monotonic() + timeout
    while child.is_alive() and time.monotonic() < deadline:
        child.join(0.05)
    for how, grace in GRACE.items():
        if not child.is_alive():
            break
        getattr(child, how)()
        child.join(grace)
    return child.exitcode
