# why: correct in another style: polls with short joins until the deadline, then tries terminate() and kill() in turn with a cell-level table of grace periods
# %% run_with_deadline
import multiprocessing
import time

GRACE = {"terminate": 0.3, "kill": None}


def run_with_deadline(target, args, timeout):
    child = multiprocessing.get_context().Process(target=target, args=args)
    child.start()
    deadline = time.monotonic() + timeout
    while child.is_alive() and time.monotonic() < deadline:
        child.join(0.05)
    for how, grace in GRACE.items():
        if not child.is_alive():
            break
        getattr(child, how)()
        child.join(grace)
    return child.exitcode
