# expect: run_all=fail
# why: joins each child with a short timeout, so run_all returns while children still run and their codes are None
# mistake: run_all/returned-early
# %% run_all
import multiprocessing


def run_all(target, arg_tuples):
    procs = [multiprocessing.Process(target=target, args=args) for args in arg_tuples]
    for p in procs:
        p.start()
    for p in procs:
        p.join(0.05)
    return [p.exitcode for p in procs]
