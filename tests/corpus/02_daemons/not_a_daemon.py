# expect: start_background=fail
# why: an ordinary child: returns at once, but the process that started it cannot exit while the job runs
# mistake: start_background/not-daemon
# %% start_background
import multiprocessing


def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    return p
