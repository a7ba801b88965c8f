# expect: run_with_deadline=fail
# why: (mutant found by scripts/mutation.py) leaves out terminate(): after join(timeout) and a grace join(1) it kills the child, which never got SIGTERM and dies of SIGKILL (-9)
# mistake: run_with_deadline/no-terminate
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.join(1)
        if p.is_alive():
            p.kill()
            p.join()
    return p.exitcode
