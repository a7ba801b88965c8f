# expect: run_all=fail
# why: p.run() instead of p.start(): the targets run in the caller and no child process ever exists
# mistake: run_all/run-not-start
# %% run_all
import multiprocessing


def run_all(target, arg_tuples):
    processes = []
    for args in arg_tuples:
        p = multiprocessing.Process(target=target, args=args)
        p.run()
        processes.append(p)
    return [p.exitcode for p in processes]
