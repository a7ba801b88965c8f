# why: correct in another style: a cell-defined wrapper sets a cell-level multiprocessing.Event once the job has begun; start_background waits (briefly) for that, never for the end
# %% start_background
import multiprocessing

STARTED = multiprocessing.Event()


def _announce(target, args):
    STARTED.set()
    target(*args)


def start_background(target, args=()):
    STARTED.clear()
    p = multiprocessing.Process(target=_announce, args=(target, tuple(args)), daemon=True)
    p.start()
    STARTED.wait(5)
    return p
