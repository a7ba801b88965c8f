# expect: run_all=fail
# why: returns the exit codes right after starting the children, without join(): they are still None
# mistake: run_all/returned-early
# %% run_all
import multiprocessing


def run_all(target, arg_tuples):
    procs = [multiprocessing.Process(target=target, args=args) for args in arg_tuples]
    for p in procs:
        p.start()
    return [p.exitcode for p in procs]
