# expect: run_all=fail
# why: start-join in one expression per child: each child ends before the next one starts (no concurrency)
# mistake: run_all/not-concurrent
# %% run_all
from multiprocessing import Process


def _run_one(target, args):
    p = Process(target=target, args=args)
    p.start()
    p.join()
    return p.exitcode


def run_all(target, arg_tuples):
    return [_run_one(target, args) for args in arg_tuples]
