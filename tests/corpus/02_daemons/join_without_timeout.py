# expect: run_with_deadline=fail
# why: join() without the timeout: a target that runs forever makes the call hang, the deadline is never applied
# mistake: run_with_deadline/hangs
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join()
    if p.is_alive():
        p.terminate()
        p.join()
    return p.exitcode
