# expect: start_background=fail
# why: a daemon thread instead of a daemon process: the job runs inside the caller, and a Thread is returned
# mistake: start_background/not-a-process
# %% start_background
import threading


def start_background(target, args=()):
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t
