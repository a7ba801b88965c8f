# expect: run_with_deadline=fail
# why: worker.run() instead of worker.start(): the target runs in the caller, no deadline can be enforced
# mistake: run_with_deadline/run-not-start
# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    worker = multiprocessing.Process(target=target, args=args)
    worker.run()
    worker.join(timeout)
    if worker.is_alive():
        worker.terminate()
        worker.join()
    return worker.exitcode
