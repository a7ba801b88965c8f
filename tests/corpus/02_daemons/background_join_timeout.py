# expect: start_background=fail
# why: "waits a little to be sure it started" with join(10): for a job that never ends the call takes ten seconds instead of returning at once
# mistake: start_background/joins-daemon
# %% start_background
import multiprocessing


def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args, daemon=True)
    p.start()
    p.join(10)
    return p
