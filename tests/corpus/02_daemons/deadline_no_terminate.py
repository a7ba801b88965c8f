# expect: run_with_deadline=fail
# why: waits with join(timeout) but never stops a child that is still alive: it returns None and leaves the child running
# mistake: run_with_deadline/no-terminate
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    return p.exitcode
