# expect: run_with_deadline=fail
# why: terminate(), then a long sleep instead of join(): a child that takes longer than the sleep to die still reports None
# mistake: run_with_deadline/exitcode-none
# %% run_with_deadline
import multiprocessing
import time


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        time.sleep(4)      # "plenty of time to die"
    return p.exitcode
