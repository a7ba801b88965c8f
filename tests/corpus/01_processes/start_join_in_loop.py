# expect: run_all=fail
# why: start-join-start-join: each child ends before the next starts, so the children never run at the same time
# mistake: run_all/not-concurrent
# %% run_all
from multiprocessing import Process


def run_all(target, arg_tuples):
    codes = []
    for args in arg_tuples:
        p = Process(target=target, args=args)
        p.start()
        p.join()
        codes.append(p.exitcode)
    return codes
