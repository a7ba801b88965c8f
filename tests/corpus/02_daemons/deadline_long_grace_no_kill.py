# expect: run_with_deadline=fail
# why: terminate() and a generous join(3), enough for a child that dies slowly, but no kill(): a child that ignores SIGTERM is left running and None returned
# mistake: run_with_deadline/no-kill
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join(3)
    return p.exitcode
