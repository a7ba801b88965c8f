# expect: run_with_deadline=fail
# why: terminate() and a one-second join(), but no kill(): a child that takes longer to die (or ignores SIGTERM) is left running and None returned
# mistake: run_with_deadline/exitcode-none
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join(1)
    return p.exitcode
