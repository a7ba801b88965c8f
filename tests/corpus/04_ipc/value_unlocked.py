# expect: add_all=fail
# why: `total.value += n` without the lock: a read and then a write, another process writes in between
# mistake: add_all/no-lock
# %% add_all
def add_all(total, numbers):
    for n in numbers:
        total.value += n
