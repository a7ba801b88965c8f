# expect: add_all=fail
# why: one unlocked read-modify-write of the whole sum still races with the other processes
# mistake: add_all/no-lock
# %% add_all
def add_all(total, numbers):
    total.value = total.value + sum(numbers)
