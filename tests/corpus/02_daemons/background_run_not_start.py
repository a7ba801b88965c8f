# expect: start_background=fail
# why: p.run() instead of p.start(): the job runs in the caller (and would never return)
# mistake: start_background/run-not-start
# %% start_background
import multiprocessing


def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args, daemon=True)
    p.run()
    return p
