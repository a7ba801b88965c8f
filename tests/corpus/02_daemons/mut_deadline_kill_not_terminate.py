# expect: run_with_deadline=fail
# why: (mutant found by scripts/mutation.py) calls kill() where terminate() belongs: a child that would obey SIGTERM dies of SIGKILL (-9) without ever getting the chance to end by itself
# mistake: run_with_deadline/no-terminate
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.kill()
        p.join(1)
        if p.is_alive():
            p.kill()
            p.join()
    return p.exitcode
