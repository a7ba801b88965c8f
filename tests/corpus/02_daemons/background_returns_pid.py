# expect: start_background=fail
# why: returns the child's pid instead of the Process object
# mistake: start_background/not-a-process
# %% start_background
import multiprocessing


def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args, daemon=True)
    p.start()
    return p.pid
