# expect: run_all=fail
# why: (mutant found by scripts/mutation.py) joins each child with join(timeout=0.1), so run_all returns while the first child, held 1 s after the others, still runs
# mistake: run_all/returned-early
# %% run_all
import multiprocessing


def run_all(target, arg_tuples):
    processes = [multiprocessing.Process(target=target, args=tuple(args)) for args in arg_tuples]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=0.1)
    return [p.exitcode for p in processes]
