# expect: start_background=fail
# why: sets p.daemon = True after p.start(): multiprocessing refuses (AssertionError) and the child is not a daemon
# mistake: start_background/daemon-after-start
# %% start_background
from multiprocessing import Process


def start_background(target, args=()):
    p = Process(target=target, args=args)
    p.start()
    p.daemon = True
    return p
