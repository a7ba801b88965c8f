# ruff: noqa: E402, F811 (each section is its own notebook cell with its own imports)
# The model answers of 02_daemons (every exercise must earn full marks).
# %% start_background
import multiprocessing


def start_background(target, args=()):
    p = multiprocessing.Process(target=target, args=args, daemon=True)   # daemon before start()
    p.start()
    return p

# %% run_with_deadline
import multiprocessing


def run_with_deadline(target, args, timeout):
    p = multiprocessing.Process(target=target, args=args)
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()            # SIGTERM: the child may take a while to die
        p.join(1)
        if p.is_alive():         # it ignores SIGTERM: SIGKILL cannot be ignored
            p.kill()
            p.join()
    return p.exitcode
