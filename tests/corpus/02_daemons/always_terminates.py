# expect: run_with_deadline=fail
# why: sleeps timeout and then always terminates and kills: a target that ended in time still reports a signal
# mistake: run_with_deadline/wrong-code
# %% run_with_deadline
import multiprocessing
import time


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    time.sleep(timeout)
    p.kill()
    p.join()
    return -9 if p.exitcode == 0 else p.exitcode
