# expect: run_with_deadline=fail
# why: sleeps timeout and then always terminates (and kills if needed): a target that ended in time still reports a signal
# mistake: run_with_deadline/wrong-code
# %% run_with_deadline
import multiprocessing
import time


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    time.sleep(timeout)
    p.terminate()
    p.join(1)
    if p.is_alive():
        p.kill()
    p.join()
    return -15 if p.exitcode == 0 else p.exitcode
