# expect: add_all=fail
# why: a new Lock per call protects nothing
# mistake: add_all/no-lock
# %% add_all
import multiprocessing


def add_all(total, numbers):
    for n in numbers:
        with multiprocessing.Lock():
            total.value += n
