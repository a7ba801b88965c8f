# expect: run_with_deadline=fail
# why: knows that exitcode is None right after terminate(), so it returns -SIGTERM itself instead of joining: the child is still dying when it returns
# mistake: run_with_deadline/child-left-running
# %% run_with_deadline
import multiprocessing
import signal


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        return -signal.SIGTERM
    return p.exitcode
