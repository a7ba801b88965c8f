# expect: run_with_deadline=fail
# why: terminate() then join() with no timeout: a child that ignores SIGTERM makes the call hang forever
# mistake: run_with_deadline/hangs
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join()
    return p.exitcode
