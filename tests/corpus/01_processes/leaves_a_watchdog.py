# expect: run_all=fail
# why: the children are right, but a "watchdog" started with subprocess.Popen(..., start_new_session=True) is never waited for and outlives run_all
# mistake: run_all/left-running
# %% run_all
import multiprocessing
import subprocess
import sys


def run_all(target, arg_tuples):
    watchdog = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    procs = [multiprocessing.Process(target=target, args=args) for args in arg_tuples]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    print("watchdog pid", watchdog.pid)
    return [p.exitcode for p in procs]
