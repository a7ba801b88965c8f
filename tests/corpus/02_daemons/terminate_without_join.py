# expect: run_with_deadline=fail
# why: terminate() and return p.exitcode at once without join(): a child that is still dying reports None
# mistake: run_with_deadline/exitcode-none
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
    return p.exitcode
