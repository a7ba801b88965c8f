# expect: start_background=fail
# why: sets daemon after start() and hides the AssertionError: the returned child is not a daemon
# mistake: start_background/not-daemon
# %% start_background
import multiprocessing


def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    try:
        p.daemon = True
    except AssertionError:
        pass
    return p
