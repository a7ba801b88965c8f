# expect: run_all=fail
# why: joins each child with join(timeout=0.1), then sleeps 3 s instead of waiting: a child that runs longer than the sleep still reports None
# mistake: run_all/returned-early
# %% run_all
import multiprocessing
import time


def run_all(target, arg_tuples):
    processes = [multiprocessing.Process(target=target, args=tuple(args)) for args in arg_tuples]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=0.1)
    time.sleep(3)          # "long enough for them to finish"
    return [p.exitcode for p in processes]
