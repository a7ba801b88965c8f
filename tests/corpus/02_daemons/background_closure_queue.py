# why: correct in another style: the child runs a closure that captures a multiprocessing.Queue and reports its pid on it; start_background waits for that report (the job has begun), never for the job's end
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
