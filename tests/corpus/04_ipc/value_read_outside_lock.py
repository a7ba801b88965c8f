# expect: add_all=fail
# why: reads total.value before taking the lock, writes under it
# mistake: add_all/partial-lock
# %% add_all
def add_all(total, numbers):
    for n in numbers:
        current = total.value
        with total.get_lock():
            total.value = current + n
