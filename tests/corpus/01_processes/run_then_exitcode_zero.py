# expect: run_all=fail
# why: calls p.run() (the target runs in the caller) and reports 0 for every target, so the result even looks right
# mistake: run_all/run-not-start
# %% run_all
import multiprocessing


def run_all(target, arg_tuples):
    codes = []
    for args in arg_tuples:
        multiprocessing.Process(target=target, args=args).run()
        codes.append(0)
    return codes
