# expect: run_all=fail
# why: collects the exit codes in the order the children end (connection.wait), not in the order of arg_tuples
# mistake: run_all/wrong-codes
# %% run_all
import multiprocessing
from multiprocessing.connection import wait


def run_all(target, arg_tuples):
    procs = [multiprocessing.Process(target=target, args=args) for args in arg_tuples]
    for p in procs:
        p.start()
    codes = []
    pending = {p.sentinel: p for p in procs}
    while pending:
        for sentinel in wait(list(pending)):
            p = pending.pop(sentinel)
            p.join()
            codes.append(p.exitcode)
    return codes
