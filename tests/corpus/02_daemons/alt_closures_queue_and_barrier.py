# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# why: correct in other styles: closures that capture a multiprocessing.Queue (start_background waits for the job's first word) and a Barrier (run_with_deadline's deadline counts once the child runs)
# %% start_background
import multiprocessing
import os


def start_background(target, args=()):
    began = multiprocessing.Queue()

    def job():
        began.put(os.getpid())
        target(*args)

    p = multiprocessing.Process(target=job, daemon=True)
    p.start()
    began.get(timeout=10)
    return p

# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    running = multiprocessing.Barrier(2)

    def child():
        running.wait(10)
        target(*args)

    p = multiprocessing.Process(target=child)
    p.start()
    running.wait(10)
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join(0.5)
    if p.is_alive():
        p.kill()
    p.join()
    return p.exitcode
