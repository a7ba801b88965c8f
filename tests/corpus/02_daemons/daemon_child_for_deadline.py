# expect: run_with_deadline=fail
# why: runs the target in a daemon child, but it must be an ordinary (non-daemon) child
# mistake: run_with_deadline/daemon-child
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args, daemon=True)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join(1)
        if p.is_alive():
            p.kill()
            p.join()
    return p.exitcode
