# expect: start_background=fail
# why: joins the daemon right after starting it, so the call never returns for a job that never ends
# mistake: start_background/joins-daemon
# %% start_background
import multiprocessing


def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args, daemon=True)
    p.start()
    p.join()
    return p
